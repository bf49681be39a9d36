//! Resource quantities (`100m`, `1.5`, `128Mi`, `1G`, `1e3`), as upstream's
//! `k8s.io/apimachinery/pkg/api/resource.Quantity` reads them, reduced to one exact number of
//! thousandths so they can be compared and added: CPU in millicores, memory in milli-bytes.

use std::fmt;

/// A string that is no quantity (upstream's `quantities must match the regular expression …`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QuantityError(pub String);

/// A parsed quantity, in thousandths of its unit (rounded up, as upstream rounds `MilliValue`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(i128);

/// Upstream's message for a quantity it cannot read.
pub const QUANTITY_FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

impl Quantity {
    pub const ZERO: Quantity = Quantity(0);

    pub fn from_millis(millis: i128) -> Self {
        Quantity(millis)
    }

    /// The value in thousandths of the unit (millicores for CPU).
    pub fn millis(self) -> i128 {
        self.0
    }

    /// The value in whole units, rounded up (bytes for memory, cores for CPU).
    pub fn value(self) -> i128 {
        (self.0 + 999).div_euclid(1000)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Reads a quantity string.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        Self::parsed(s).map_err(QuantityError)
    }

    fn parsed(s: &str) -> Result<Quantity, String> {
        let err = || QUANTITY_FORMAT_ERROR.to_string();
        let s = s.trim();
        let split =
            s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(s.len());
        let (number, suffix) = s.split_at(split);
        let (negative, digits) = match number.as_bytes().first() {
            Some(b'-') => (true, &number[1..]),
            Some(b'+') => (false, &number[1..]),
            _ => (false, number),
        };
        if digits.is_empty()
            || digits.contains(['+', '-'])
            || digits.matches('.').count() > 1
            || digits == "."
        {
            return Err(err());
        }
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        // mantissa * 10^-frac_len
        let mantissa: i128 = format!("{whole}{frac}").parse().map_err(|_| err())?;
        // Wide enough that no suffix or exponent below can overflow it.
        let mut exp10: i64 = -(frac.len() as i64);
        let mut multiplier: i128 = 1;
        match suffix {
            "" => {}
            "n" => exp10 -= 9,
            "u" => exp10 -= 6,
            "m" => exp10 -= 3,
            "k" => exp10 += 3,
            "M" => exp10 += 6,
            "G" => exp10 += 9,
            "T" => exp10 += 12,
            "P" => exp10 += 15,
            "E" => exp10 += 18,
            "Ki" => multiplier = 1 << 10,
            "Mi" => multiplier = 1 << 20,
            "Gi" => multiplier = 1 << 30,
            "Ti" => multiplier = 1 << 40,
            "Pi" => multiplier = 1 << 50,
            "Ei" => multiplier = 1 << 60,
            s if s.starts_with(['e', 'E']) => {
                exp10 += i64::from(s[1..].parse::<i32>().map_err(|_| err())?);
            }
            _ => return Err(err()),
        }
        // Thousandths: shift by three more decimal places.
        exp10 += 3;
        let mut value = mantissa.checked_mul(multiplier).ok_or_else(err)?;
        if exp10 >= 0 {
            let scale = u32::try_from(exp10).ok().and_then(|e| 10i128.checked_pow(e)).ok_or_else(err)?;
            value = value.checked_mul(scale).ok_or_else(err)?;
        } else {
            // Rounded up to the next thousandth, as upstream rounds up to milli-units.
            let div = u32::try_from(-exp10).ok().and_then(|e| 10i128.checked_pow(e)).unwrap_or(i128::MAX);
            value = if value == 0 { 0 } else { (value - 1) / div + 1 };
        }
        Ok(Quantity(if negative { -value } else { value }))
    }
}

impl std::ops::Add for Quantity {
    type Output = Quantity;
    fn add(self, o: Quantity) -> Quantity {
        Quantity(self.0.saturating_add(o.0))
    }
}

impl std::ops::AddAssign for Quantity {
    fn add_assign(&mut self, o: Quantity) {
        self.0 = self.0.saturating_add(o.0);
    }
}

impl std::ops::Sub for Quantity {
    type Output = Quantity;
    fn sub(self, o: Quantity) -> Quantity {
        Quantity(self.0.saturating_sub(o.0))
    }
}

impl fmt::Display for Quantity {
    /// Millis when fractional (`250m`), else whole units.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1000 == 0 { write!(f, "{}", self.0 / 1000) } else { write!(f, "{}m", self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> i128 {
        Quantity::parse(s).unwrap().millis()
    }

    #[test]
    fn parses_upstream_forms() {
        assert_eq!(q("100m"), 100);
        assert_eq!(q("1"), 1000);
        assert_eq!(q("1.5"), 1500);
        assert_eq!(q("0.1"), 100);
        assert_eq!(q("200Mi"), 200 * 1024 * 1024 * 1000);
        assert_eq!(q("1Gi"), (1i128 << 30) * 1000);
        assert_eq!(q("1k"), 1_000_000);
        assert_eq!(q("1e3"), 1_000_000);
        assert_eq!(q("-1"), -1000);
        assert_eq!(q("1n"), 1, "rounded up to a thousandth");
        assert_eq!(Quantity::parse("200Mi").unwrap().value(), 200 * 1024 * 1024);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "abc", "1x", "1..2", "--1", ".", "1Zi"] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }

    /// Found by the quantity fuzzer: huge mantissas and exponents overflowed while scaling.
    #[test]
    fn extreme_numbers_and_exponents_are_refused_or_rounded_not_overflowed() {
        let huge = "9".repeat(38);
        for bad in [
            format!("{huge}e-2147483648"),
            "1e2147483647".to_string(),
            format!("{huge}E"),
            format!("{huge}Ei"),
        ] {
            let _ = Quantity::parse(&bad);
        }
        assert!(Quantity::parse("1e2147483647").is_err());
        assert_eq!(Quantity::parse(&format!("{huge}e-2147483648")).unwrap().millis(), 1, "rounded up");
        assert_eq!(Quantity::parse("0e-100").unwrap().millis(), 0);
    }

    #[test]
    fn orders_and_adds() {
        assert!(Quantity::parse("500m").unwrap() < Quantity::parse("1").unwrap());
        assert_eq!(
            Quantity::parse("500m").unwrap() + Quantity::parse("0.5").unwrap(),
            Quantity::parse("1").unwrap()
        );
        assert_eq!(Quantity::parse("1500m").unwrap().to_string(), "1500m");
        assert_eq!(Quantity::parse("2").unwrap().to_string(), "2");
    }
}
