//! `scoped_css!`: a component's CSS, parsed and scoped by [stylist](https://docs.rs/stylist) when
//! the crate compiles, expanded to the finished text.
//!
//! Why a proc-macro: stylist's own macros (`css!`, `sheet!`) parse at compile time too, but they
//! expand to syntax trees that stylist prints (and scopes) in the browser, so its printer, the
//! trees as static data and their lazy statics ship in the wasm: +9,820 B gzip over an app
//! without stylist (the yew-realtime benchmarks, "stylist"). Here stylist runs in the compiler only and the
//! bundle carries each style as a string literal. Used through `realtime_pages::scoped!`, which
//! also mounts the text once; see `pages/src/styles.rs`.

use proc_macro::{Literal, TokenStream, TokenTree};
use stylist_core::ast::{Sheet, ToStyleStr};
use syn::parse::{Parse, ParseStream};
use syn::{LitStr, Token};

/// `scoped_css!("stylist-name", r#"…css…"#)` expands to the CSS as a `&'static str`, parsed by
/// stylist and scoped under `.stylist-name` by stylist's printer, exactly as stylist would print
/// it in the browser. A CSS syntax error, an invalid class name or a `${…}` interpolation is a
/// compile error.
#[proc_macro]
pub fn scoped_css(input: TokenStream) -> TokenStream {
    let Input { class, css } = syn::parse_macro_input!(input as Input);
    match scope(&class.value(), &css.value()) {
        Ok(text) => {
            let mut literal = Literal::string(&text);
            literal.set_span(css.span().unwrap());
            TokenTree::Literal(literal).into()
        }
        Err((on_class, message)) => {
            let span = if on_class { class.span() } else { css.span() };
            syn::Error::new(span, message).to_compile_error().into()
        }
    }
}

struct Input {
    class: LitStr,
    css: LitStr,
}

impl Parse for Input {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let class = input.parse()?;
        input.parse::<Token![,]>()?;
        let css = input.parse()?;
        input.parse::<Option<Token![,]>>()?;
        Ok(Input { class, css })
    }
}

/// Parses `css` with stylist and prints it scoped under `.class`. The error says which argument
/// is wrong (`true`: the class) and why.
fn scope(class: &str, css: &str) -> Result<String, (bool, String)> {
    let valid_class = class.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '-')
        && class
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_class {
        return Err((
            true,
            format!("`{class}` is not a CSS class name (letters, digits, `-`, `_`)"),
        ));
    }
    if css.contains("${") {
        return Err((false, "`${…}` interpolation is not supported: the style is fixed at compile time; use a CSS variable (`var(--name)`) or a second class".into()));
    }
    let sheet: Sheet = css
        .parse()
        .map_err(|error| (false, format!("stylist: {error}")))?;
    Ok(sheet.to_style_str(Some(class)))
}

#[cfg(test)]
mod tests {
    use super::scope;

    #[test]
    fn declarations_and_child_rules_are_scoped_under_the_class() {
        let css = scope(
            "stylist-x",
            "color: red; .a { color: blue; } .a li, .b { margin: 0; }",
        );
        assert_eq!(
            css.unwrap(),
            concat!(
                ".stylist-x {\n    color: red;\n}\n",
                ".stylist-x .a {\n    color: blue;\n}\n",
                ".stylist-x .a li, .stylist-x .b {\n    margin: 0;\n}\n",
            )
        );
    }

    #[test]
    fn ampersand_pseudo_classes_and_media() {
        // The forms the components use: `&` for the scoped element itself, compound selectors
        // with pseudo-classes, and `@media` holding both the element's declarations and rules.
        let css = scope(
            "stylist-x",
            "&.open { display: block; } &:hover > .a { color: red; } .nav a.active, .nav a:hover { color: blue; } \
             @media (max-width: 760px) { width: auto; .a { flex: 1; } }",
        );
        assert_eq!(
            css.unwrap(),
            concat!(
                ".stylist-x.open {\n    display: block;\n}\n",
                ".stylist-x:hover > .a {\n    color: red;\n}\n",
                ".stylist-x .nav a.active, .stylist-x .nav a:hover {\n    color: blue;\n}\n",
                "@media (max-width: 760px) {\n    .stylist-x {\n        width: auto;\n    }\n}\n",
                "@media (max-width: 760px) {\n    .stylist-x .a {\n        flex: 1;\n    }\n}\n",
            )
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let error = scope("stylist-x", ".a { color: red;").unwrap_err();
        assert!(
            !error.0 && error.1.starts_with("stylist: Failed to Parse CSS"),
            "{error:?}"
        );
        assert!(scope("not a class", "color: red;").unwrap_err().0);
        assert!(scope("stylist-x", "color: ${c};")
            .unwrap_err()
            .1
            .contains("interpolation"));
    }
}
