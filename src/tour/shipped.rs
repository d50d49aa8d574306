//! The tours shipped in `tours/` and their translations, built in: the page has no files, and the
//! app opens the default tour without one. One table; a test checks that it is every file of
//! `tours/` as it is.

/// A tour of `tours/`, built in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShippedTour {
    /// The file's name without `.ron`: `nano-gpt` for `tours/nano-gpt.ron`, and the page's `?tour=`.
    pub name: &'static str,
    pub text: &'static str,
    /// `NAME.LANG.ron` beside it, as (language, text).
    pub translations: &'static [(&'static str, &'static str)],
}

/// Every tour of `tours/` with its translations; the first is the default.
pub const TOURS: [ShippedTour; 4] = [
    ShippedTour {
        name: "nano-gpt",
        text: include_str!("../../tours/nano-gpt.ron"),
        translations: &[
            ("es", include_str!("../../tours/nano-gpt.es.ron")),
            ("zh-CN", include_str!("../../tours/nano-gpt.zh-CN.ron")),
        ],
    },
    ShippedTour { name: "scale", text: include_str!("../../tours/scale.ron"), translations: &[] },
    ShippedTour {
        name: "modern",
        text: include_str!("../../tours/modern.ron"),
        translations: &[
            ("es", include_str!("../../tours/modern.es.ron")),
            ("zh-CN", include_str!("../../tours/modern.zh-CN.ron")),
        ],
    },
    ShippedTour {
        name: "training",
        text: include_str!("../../tours/training.ron"),
        translations: &[
            ("es", include_str!("../../tours/training.es.ron")),
            ("zh-CN", include_str!("../../tours/training.zh-CN.ron")),
        ],
    },
];

/// Where the default tour is in a checkout, from its root: opened from there when it is there,
/// so that edits reload, else built in.
pub const DEFAULT_TOUR_FILE: &str = "tours/nano-gpt.ron";

/// The tour opened when none is named.
pub fn default_tour() -> &'static ShippedTour {
    &TOURS[0]
}

/// The shipped tour of a name.
pub fn tour(name: &str) -> Option<&'static ShippedTour> {
    TOURS.iter().find(|tour| tour.name == name)
}

/// The shipped translation of the tour `name` into `language`.
pub fn translation(name: &str, language: &str) -> Option<&'static str> {
    let translations = tour(name)?.translations;
    translations.iter().find(|(tag, _)| *tag == language).map(|(_, text)| *text)
}

/// The names of the shipped tours, in order.
pub fn names() -> impl Iterator<Item = &'static str> {
    TOURS.iter().map(|tour| tour.name)
}
