//! The spellings of a page's name in each place it appears.

/// `team-board` as a URL, a module, a type, a constant and a nav label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// `team-board`: the cargo feature and the last part of the URL.
    pub kebab: String,
    /// `team_board`: the module and file names.
    pub snake: String,
    /// `TeamBoard`: the route variant and the component's prefix.
    pub camel: String,
    /// `TEAM_BOARD`: the endpoint constant in `src/config.rs`.
    pub constant: String,
    /// `Team board`: the nav label and the page's heading.
    pub title: String,
    /// `/team-board`: the page's URL.
    pub path: String,
}

/// Names a page cannot take: they are the app's own pages, modules or Rust keywords.
const TAKEN: [&str; 14] = [
    "chat",
    "typed-chat",
    "notifications",
    "cursors",
    "components",
    "styles",
    "app",
    "config",
    "pages",
    "main",
    "lib",
    "mod",
    "self",
    "super",
];

impl Names {
    /// Checks `name` (lower-case ASCII words joined by single `-`, starting with a letter) and
    /// spells it every way.
    pub fn new(name: &str) -> Result<Self, String> {
        let valid = name.len() <= 40
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('-')
            && !name.contains("--")
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(format!(
                "`{name}` is not a page name: use lower-case words joined by '-', e.g. poll or team-board"
            ));
        }
        if TAKEN.contains(&name) || is_keyword(name) {
            return Err(format!("`{name}` is taken: pick another name"));
        }
        let words: Vec<&str> = name.split('-').collect();
        let capitalise = |w: &str| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        };
        let title = words.join(" ");
        Ok(Self {
            kebab: name.to_owned(),
            snake: words.join("_"),
            camel: words.iter().map(|w| capitalise(w)).collect(),
            constant: words.join("_").to_ascii_uppercase(),
            title: capitalise(&title),
            path: format!("/{name}"),
        })
    }

    /// Fills a blueprint's placeholders with these names.
    pub fn fill(&self, blueprint: &str) -> String {
        blueprint
            .replace("__kebab__", &self.kebab)
            .replace("__snake__", &self.snake)
            .replace("__Camel__", &self.camel)
            .replace("__CONST__", &self.constant)
            .replace("__Title__", &self.title)
            .replace("__path__", &self.path)
    }
}

fn is_keyword(name: &str) -> bool {
    const KEYWORDS: [&str; 38] = [
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "move", "mut",
        "pub", "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use",
        "where", "while", "abstract", "box", "try", "yield",
    ];
    KEYWORDS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_spelled_for_every_place() {
        let n = Names::new("team-board").unwrap();
        assert_eq!(n.snake, "team_board");
        assert_eq!(n.camel, "TeamBoard");
        assert_eq!(n.constant, "TEAM_BOARD");
        assert_eq!(n.title, "Team board");
        assert_eq!(n.path, "/team-board");
        assert_eq!(
            n.fill("__Camel__Page at __path__"),
            "TeamBoardPage at /team-board"
        );
        assert_eq!(Names::new("poll2").unwrap().camel, "Poll2");
    }

    #[test]
    fn bad_or_taken_names_are_refused_with_the_rule() {
        for bad in [
            "",
            "Poll",
            "2poll",
            "poll-",
            "team--board",
            "team_board",
            "a b",
            "chat",
            "fn",
            "mod",
        ] {
            assert!(Names::new(bad).is_err(), "{bad:?}");
        }
        assert!(Names::new("Poll").unwrap_err().contains("lower-case"));
    }
}
