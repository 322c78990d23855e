//! One `Range: bytes=…` of a file (restic asks for one range at a time).

/// The first and last byte a Range header asks for in a file of `size`
/// bytes; None when it cannot be served (malformed, several ranges,
/// starting at or past the end) — a 416.
pub fn parse(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // The last b bytes.
        let n: u64 = b.parse().ok()?;
        if n == 0 || size == 0 {
            return None;
        }
        return Some((size.saturating_sub(n), size - 1));
    }
    let start: u64 = a.parse().ok()?;
    if start >= size {
        return None;
    }
    let end = if b.is_empty() {
        size - 1
    } else {
        let end: u64 = b.parse().ok()?;
        if end < start {
            return None;
        }
        end.min(size - 1)
    };
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn ranges() {
        assert_eq!(parse("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse("bytes=90-200", 100), Some((90, 99)));
        assert_eq!(parse("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse("bytes=-200", 100), Some((0, 99)));
        assert_eq!(parse("bytes=100-", 100), None);
        assert_eq!(parse("bytes=5-4", 100), None);
        assert_eq!(parse("bytes=0-1,3-4", 100), None);
        assert_eq!(parse("items=0-1", 100), None);
        assert_eq!(parse("bytes=x-1", 100), None);
        assert_eq!(parse("bytes=0-", 0), None);
    }
}
