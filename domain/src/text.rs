//! Rules for human-readable text fields (titles, descriptions, names):
//! what counts as blank and which characters are refused.
//!
//! "Blank" means nothing a reader can see: whitespace and the Unicode
//! Default_Ignorable_Code_Point characters (zero-width spaces and joiners,
//! the BOM, variation selectors, fillers, tags). Control characters are
//! refused in single-line fields, and the bidirectional embeddings,
//! overrides and isolates ("Trojan Source", CVE-2021-42574) everywhere,
//! as they make a text display in another order than it is stored.

use crate::ValidationError;

/// Default_Ignorable_Code_Point (Unicode 15, DerivedCoreProperties.txt).
const DEFAULT_IGNORABLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// Characters that show nothing: whitespace, default-ignorables and the
/// Braille blank (which fonts draw empty).
pub fn is_invisible(c: char) -> bool {
    let cp = u32::from(c);
    c.is_whitespace()
        || cp == 0x2800
        || DEFAULT_IGNORABLE
            .iter()
            .any(|&(low, high)| (low..=high).contains(&cp))
}

/// The bidirectional embeddings, overrides (U+202A..U+202E) and isolates
/// (U+2066..U+2069).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `raw` shows nothing at all.
pub fn is_blank(raw: &str) -> bool {
    raw.chars().all(is_invisible)
}

/// The checks for a one-line field: no NUL (PostgreSQL text cannot hold
/// it), no control character (tab, newline, escape...), no bidi control.
pub fn check_single_line(raw: &str) -> Result<(), ValidationError> {
    check_multi_line(raw)?;
    if raw.chars().any(char::is_control) {
        return Err(ValidationError::ControlCharacter);
    }
    Ok(())
}

/// The checks for a free-text field: as [`check_single_line`], except
/// that tab, line feed and carriage return are allowed.
pub fn check_multi_line(raw: &str) -> Result<(), ValidationError> {
    if raw.contains('\0') {
        return Err(ValidationError::NulCharacter);
    }
    if raw
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(ValidationError::ControlCharacter);
    }
    if raw.chars().any(is_bidi_control) {
        return Err(ValidationError::BidiControl);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_width_and_other_invisible_text_is_blank() {
        for blank in [
            "",
            " \t",
            "\u{200B}",
            "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}",
            "\u{3164}\u{115F}",
            "\u{2800}",
            "\u{E0041}",
            "\u{00A0}\u{3000}",
        ] {
            assert!(is_blank(blank), "{blank:?}");
        }
        for visible in ["a", "\u{200B}a", "é", "👍🏽", "\u{0301}"] {
            assert!(!is_blank(visible), "{visible:?}");
        }
    }

    #[test]
    fn single_line_fields_refuse_controls_and_bidi_overrides() {
        assert_eq!(check_single_line("ok"), Ok(()));
        assert_eq!(
            check_single_line("a\0b"),
            Err(ValidationError::NulCharacter)
        );
        for bad in ["a\nb", "a\tb", "\u{1b}[31m", "\u{7f}", "\u{85}"] {
            assert_eq!(
                check_single_line(bad),
                Err(ValidationError::ControlCharacter),
                "{bad:?}"
            );
        }
        for bad in ["\u{202E}gpj.exe", "a\u{2066}b", "\u{202A}"] {
            assert_eq!(
                check_single_line(bad),
                Err(ValidationError::BidiControl),
                "{bad:?}"
            );
        }
        // Joiners are part of emoji and some scripts: allowed.
        assert_eq!(check_single_line("👩\u{200D}💻"), Ok(()));
    }

    #[test]
    fn multi_line_fields_allow_line_breaks_and_tabs_only() {
        assert_eq!(check_multi_line("a\r\nb\tc"), Ok(()));
        assert_eq!(
            check_multi_line("a\u{7}b"),
            Err(ValidationError::ControlCharacter)
        );
        assert_eq!(
            check_multi_line("x\u{202D}y"),
            Err(ValidationError::BidiControl)
        );
    }
}
