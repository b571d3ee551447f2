//! Presentational components: data in, `on_*` callbacks out.

pub mod connection_panel;
pub mod message_list;
pub mod publish_form;
pub mod status_badge;
