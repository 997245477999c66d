//! The macro behind every report enum: case-insensitive, trimmed, never failing.
//!
//! Reporters write `Pass`, `PASS` and ` pass `; some invent values. Each enum matches its
//! known spellings case-insensitively (plus documented aliases) and keeps anything else in an
//! `Other(String)` arm with the text as sent, so a surprise never changes meaning or fails a
//! report. Serialised, a value is its canonical lower-case name or the `Other` text.

macro_rules! report_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $canon:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value outside the standard, kept as sent (trimmed).
            Other(String),
        }

        impl $name {
            /// Reads a value as reporters write it: trimmed, any case, with known aliases.
            pub fn from_text(text: &str) -> Self {
                let t = text.trim();
                $(
                    if t.eq_ignore_ascii_case($canon) $(|| t.eq_ignore_ascii_case($alias))* {
                        return $name::$variant;
                    }
                )+
                $name::Other(t.to_owned())
            }

            /// The canonical name, or the text of an `Other` value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $canon, )+
                    $name::Other(s) => s,
                }
            }

            /// True for a value the standards define.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Ok($name::from_text(&s))
            }
        }
    };
}

pub(crate) use report_enum;
