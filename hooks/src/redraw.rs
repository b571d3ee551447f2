//! Coalesced re-rendering: many events in one animation frame cause one render, not one each.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_render::{request_animation_frame, AnimationFrame};
use yew::prelude::*;

/// Schedules one re-render of the calling component per animation frame, however often it is
/// called; cheap to clone. Pending frames are cancelled when the component unmounts.
#[derive(Clone)]
pub struct Redraw {
    update: UseForceUpdateHandle,
    pending: Rc<RefCell<Option<AnimationFrame>>>,
}

impl Redraw {
    /// Asks for a re-render at the next animation frame (no-op if one is already pending).
    pub fn request(&self) {
        let mut pending = self.pending.borrow_mut();
        if pending.is_some() {
            return;
        }
        let update = self.update.clone();
        let slot = self.pending.clone();
        *pending = Some(request_animation_frame(move |_| {
            // Take the fired frame out before rendering so the next request schedules a new one.
            drop(slot.borrow_mut().take());
            update.force_update();
        }));
    }
}

/// Returns a [`Redraw`] for the calling component.
///
/// # Example
/// ```
/// use realtime_hooks::redraw::use_redraw;
/// use yew::prelude::*;
///
/// #[component]
/// fn Ticker() -> Html {
///     let redraw = use_redraw();
///     // However many times this runs in one frame, the component renders once.
///     let onclick = Callback::from(move |_| (0..100).for_each(|_| redraw.request()));
///     html! { <button {onclick}>{ "Redraw" }</button> }
/// }
/// ```
#[hook]
pub fn use_redraw() -> Redraw {
    let update = use_force_update();
    let pending = use_mut_ref(|| None::<AnimationFrame>);
    {
        let pending = pending.clone();
        use_effect_with((), move |_| move || drop(pending.borrow_mut().take()));
    }
    Redraw { update, pending }
}
