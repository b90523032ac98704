//! Small, allocation-free building blocks used on the hot path: hashing, invertible id
//! scrambling, Graph-style JSON string escaping, base64url, percent-encoding and timestamps.

use std::io;

/// SplitMix64 finaliser: a fast, well-distributed 64-bit mixer. Every "random" choice in the
/// dataset is `mix` of the seed and the coordinates of the thing chosen, so any thread can be
/// generated on its own, in any order, with no state.
#[inline]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of a short tuple of words.
#[inline]
pub(crate) fn hash(parts: &[u64]) -> u64 {
    let mut acc = 0x243F_6A88_85A3_08D3u64;
    for &p in parts {
        acc = mix(acc ^ p);
    }
    acc
}

/// Uniform float in `[0, 1)` from a hash.
#[inline]
pub(crate) fn unit_f64(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

const HALF_BITS: u32 = 30;
const HALF_MASK: u64 = (1 << HALF_BITS) - 1;
/// Width of the scrambled id space: 60 bits, at most 19 decimal digits.
pub(crate) const ID_BITS: u32 = 2 * HALF_BITS;

/// A keyed Feistel permutation of the 60-bit space. Ids look random but decode back to the
/// thread's coordinates without any lookup table, which is what lets a dataset of a million
/// threads answer `GET /{conversation-id}` with no memory.
pub(crate) fn feistel(x: u64, key: u64) -> u64 {
    let (mut l, mut r) = (x >> HALF_BITS & HALF_MASK, x & HALF_MASK);
    for round in 0..4u64 {
        let f = mix(key ^ (round << 56) ^ r) & HALF_MASK;
        (l, r) = (r, l ^ f);
    }
    l << HALF_BITS | r
}

/// Inverse of [`feistel`] with the same key.
pub(crate) fn feistel_inv(y: u64, key: u64) -> u64 {
    let (mut l, mut r) = (y >> HALF_BITS & HALF_MASK, y & HALF_MASK);
    for round in (0..4u64).rev() {
        let f = mix(key ^ (round << 56) ^ l) & HALF_MASK;
        (l, r) = (r ^ f, l);
    }
    l << HALF_BITS | r
}

/// Appends the decimal digits of `v`.
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends the decimal digits of `v` (signed).
#[inline]
pub(crate) fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[inline]
fn push_u_escape(out: &mut Vec<u8>, unit: u16) {
    out.extend_from_slice(&[
        b'\\',
        b'u',
        HEX[(unit >> 12) as usize & 0xF],
        HEX[(unit >> 8) as usize & 0xF],
        HEX[(unit >> 4) as usize & 0xF],
        HEX[unit as usize & 0xF],
    ]);
}

/// Appends `s` escaped the way Graph escapes strings, *without* the surrounding quotes:
/// every non-ASCII character becomes `\uXXXX` (astral characters as a UTF-16 surrogate pair,
/// lowercase hex), `/` becomes `\/`, and the usual JSON escapes apply.
pub(crate) fn escape_graph_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'/' => b"\\/",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0C => b"\\f",
            0x00..=0x1F => b"",
            0x20..=0x7F => {
                i += 1;
                continue;
            }
            _ => b"",
        };
        out.extend_from_slice(&bytes[start..i]);
        if !short.is_empty() {
            out.extend_from_slice(short);
            i += 1;
        } else if b < 0x80 {
            push_u_escape(out, u16::from(b));
            i += 1;
        } else {
            // A multi-byte UTF-8 sequence starts here; `s` is valid UTF-8 so this char exists.
            let ch = s[i..].chars().next().unwrap_or('\u{FFFD}');
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                push_u_escape(out, *unit);
            }
            i += ch.len_utf8();
        }
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `s` as a quoted Graph-style JSON string.
#[inline]
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escape_graph_into(out, s);
    out.push(b'"');
}

/// A `serde_json` formatter that writes strings the way Graph does (see [`escape_graph_into`]).
/// Used for everything that is not on the hot path: error envelopes, stats, ground truth.
#[derive(Clone, Copy, Debug, Default)]
pub struct GraphFormatter;

impl serde_json::ser::Formatter for GraphFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut buf = Vec::with_capacity(fragment.len() + 8);
        escape_graph_into(&mut buf, fragment);
        writer.write_all(&buf)
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        use serde_json::ser::CharEscape;
        let s: &[u8] = match char_escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"\\/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => {
                let mut buf = Vec::with_capacity(6);
                push_u_escape(&mut buf, u16::from(byte));
                return writer.write_all(&buf);
            }
        };
        writer.write_all(s)
    }
}

/// Serialises `value` as compact JSON with Graph's string escaping.
pub fn to_graph_json<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GraphFormatter);
    // Serialising plain data structures into a Vec cannot fail.
    if value.serialize(&mut ser).is_err() {
        out.clear();
        out.extend_from_slice(b"null");
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Appends the unpadded base64url encoding of `data`.
pub(crate) fn push_base64url(out: &mut Vec<u8>, data: &[u8]) {
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for k in 0..chars {
            out.push(B64[(n >> (18 - 6 * k)) as usize & 63]);
        }
    }
}

/// Decodes unpadded (or padded) base64url; `None` on any invalid character.
pub(crate) fn decode_base64url(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Appends `s` percent-encoded for a query value (unreserved characters kept, `,` as `%2C`,
/// like the `next` URLs Graph writes).
pub(crate) fn push_query_value(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[
                b'%',
                HEX_UPPER[(b >> 4) as usize],
                HEX_UPPER[(b & 15) as usize],
            ]);
        }
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Appends a Unix time as Graph's ISO-8601 form `2026-11-20T09:28:50+0000`.
pub(crate) fn push_graph_time(out: &mut Vec<u8>, unix: i64) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let two = |out: &mut Vec<u8>, v: i64| {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    };
    push_i64(out, y);
    out.push(b'-');
    two(out, m);
    out.push(b'-');
    two(out, d);
    out.push(b'T');
    two(out, secs / 3600);
    out.push(b':');
    two(out, secs / 60 % 60);
    out.push(b':');
    two(out, secs % 60);
    out.extend_from_slice(b"+0000");
}

/// Graph's timestamp for `unix` as a `String`.
pub(crate) fn graph_time(unix: i64) -> String {
    let mut v = Vec::with_capacity(24);
    push_graph_time(&mut v, unix);
    String::from_utf8(v).unwrap_or_default()
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date (inverse of `civil_from_days`).
pub(crate) const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feistel_round_trips() {
        for x in [0u64, 1, 12345, (1 << 44) - 1, (1 << 60) - 1] {
            let y = feistel(x, 99);
            assert!(y < 1 << ID_BITS);
            assert_eq!(feistel_inv(y, 99), x);
        }
    }

    #[test]
    fn escapes_like_graph() {
        let mut out = Vec::new();
        escape_graph_into(&mut out, "a/é😀\"\\\n\u{1}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"a\/\u00e9\ud83d\ude00\"\\\n\u0001"#
        );
    }

    #[test]
    fn formats_graph_time() {
        let t = days_from_civil(2021, 7, 23) * 86_400 + 10 * 3600 + 24 * 60 + 23;
        assert_eq!(graph_time(t), "2021-07-23T10:24:23+0000");
        assert_eq!(graph_time(0), "1970-01-01T00:00:00+0000");
    }

    #[test]
    fn base64url_round_trips() {
        for data in [&b""[..], b"a", b"ab", b"abc", b"AQH12:34:ff"] {
            let mut out = Vec::new();
            push_base64url(&mut out, data);
            let s = String::from_utf8(out).unwrap();
            assert_eq!(decode_base64url(&s).unwrap(), data);
        }
    }
}
