//! Fixed-point display of `f64` without `core`'s float formatter.
//!
//! Decision: `format!("{:.1}", x)` pulls Rust's general float-to-decimal code (Grisu and Dragon
//! with their tables) into the wasm bundle, several KB gzip, for what the UI needs: seconds,
//! milliseconds and percentages with at most a few decimals. [`Fixed`] rounds to an integer count
//! of the last decimal and prints that with integer formatting, which the bundle has anyway.

use std::fmt;

/// Displays `.0` with `.1` decimals (at most 9), rounded half away from zero.
///
/// Magnitudes past `u64::MAX / 10^decimals` print as that bound; NaN prints `NaN`, infinities
/// `inf` / `-inf`, and a value that rounds to zero prints without a minus sign.
///
/// ```
/// use realtime_hooks::core::Fixed;
/// assert_eq!(Fixed(2.25, 1).to_string(), "2.3");
/// assert_eq!(format!("{} s", Fixed(0.04, 0)), "0 s");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fixed(pub f64, pub u8);

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Fixed(value, decimals) = *self;
        if value.is_nan() {
            return f.write_str("NaN");
        }
        if value.is_infinite() {
            return f.write_str(if value > 0.0 { "inf" } else { "-inf" });
        }
        let decimals = u32::from(decimals.min(9));
        let scale = 10u64.pow(decimals);
        // `as` saturates: out-of-range magnitudes become u64::MAX.
        let units = (value.abs() * scale as f64).round() as u64;
        let sign = if value < 0.0 && units > 0 { "-" } else { "" };
        let (whole, frac) = (units / scale, units % scale);
        if decimals == 0 {
            write!(f, "{sign}{whole}")
        } else {
            write!(f, "{sign}{whole}.{frac:0width$}", width = decimals as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_the_requested_decimals_like_the_std_formatter_on_exact_values() {
        for (value, decimals, want) in [
            (0.0, 1, "0.0"),
            (1.0, 0, "1"),
            (0.5, 0, "1"),
            (2.5, 0, "3"),
            (1.25, 1, "1.3"),
            (12.345, 3, "12.345"),
            (99.9996, 3, "100.000"),
            (0.05, 3, "0.050"),
            (5000.0 / 1000.0, 1, "5.0"),
            (1234.0 / 1000.0, 1, "1.2"),
            (-1.5, 1, "-1.5"),
            (-0.04, 1, "0.0"),
            (7.0, 12, "7.000000000"),
        ] {
            assert_eq!(
                Fixed(value, decimals).to_string(),
                want,
                "{value} with {decimals}"
            );
        }
    }

    #[test]
    fn non_finite_and_huge_values_do_not_panic() {
        assert_eq!(Fixed(f64::NAN, 1).to_string(), "NaN");
        assert_eq!(Fixed(f64::INFINITY, 1).to_string(), "inf");
        assert_eq!(Fixed(f64::NEG_INFINITY, 0).to_string(), "-inf");
        assert_eq!(Fixed(1e300, 0).to_string(), u64::MAX.to_string());
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn agrees_with_the_std_formatter_within_one_unit_of_the_last_decimal(
                value in -1.0e6f64..1.0e6, decimals in 0u8..=4
            ) {
                let ours: f64 = Fixed(value, decimals).to_string().parse().unwrap();
                let std: f64 = format!("{value:.*}", decimals as usize).parse().unwrap();
                // std rounds half to even on the exact binary value; we round the scaled product.
                prop_assert!((ours - std).abs() <= 1.01 / 10f64.powi(i32::from(decimals)),
                    "{value} {decimals}: {ours} vs {std}");
            }
        }
    }
}
