//! Debug knobs: `TRICOLOR_DEBUG=key=value,...` and `TRICOLOR_GOGC`.
//!
//! | key            | effect                                                           |
//! |----------------|------------------------------------------------------------------|
//! | `gctrace=1`    | one line per cycle on stderr (see `collector.rs` for the format) |
//! | `checkmark=1`  | re-mark the graph on one thread after each mark; abort loudly if the real mark missed an object |
//! | `stoptheworld=1` | whole mark with the world stopped (the only mode until concurrent marking lands) |
//! | `stoptheworld=2` | sweeping too: every span is swept before the world restarts |
//! | `clobberfree=1`| fill every dead object with `0xdf` when it is swept              |
//! | `stress=N`     | request a cycle every `N` bytes allocated                        |
//! | `losemark=N`   | *fault injection*: the marker skips one in `N` newly found objects, so `checkmark` (and verifiers built on the heap) must catch it |
//!
//! Unknown keys and malformed values are reported on stderr once and
//! ignored, so a typo never changes behaviour silently.

/// Parsed knobs. `Default` is everything off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DebugKnobs {
    pub gctrace: u32,
    pub checkmark: bool,
    pub stoptheworld: u32,
    pub clobberfree: bool,
    pub stress: usize,
    pub losemark: u64,
}

impl DebugKnobs {
    /// Parse a `key=value,...` list. Errors name the offending item.
    pub fn parse(s: &str) -> Result<DebugKnobs, String> {
        let mut k = DebugKnobs::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}`: expected key=value"))?;
            let num = |v: &str| -> Result<u64, String> {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("`{item}`: `{v}` is not a number"))
            };
            match key.trim() {
                "gctrace" => k.gctrace = num(value)? as u32,
                "checkmark" => k.checkmark = num(value)? != 0,
                "stoptheworld" => k.stoptheworld = num(value)? as u32,
                "clobberfree" => k.clobberfree = num(value)? != 0,
                "stress" => k.stress = num(value)? as usize,
                "losemark" => k.losemark = num(value)?,
                other => return Err(format!("unknown key `{other}`")),
            }
        }
        Ok(k)
    }

    /// The knobs in `TRICOLOR_DEBUG`, reporting problems on stderr.
    pub fn from_env() -> DebugKnobs {
        match std::env::var("TRICOLOR_DEBUG") {
            Ok(s) => DebugKnobs::parse(&s).unwrap_or_else(|e| {
                eprintln!("tricolor: ignoring TRICOLOR_DEBUG: {e}");
                DebugKnobs::default()
            }),
            Err(_) => DebugKnobs::default(),
        }
    }
}

/// `TRICOLOR_GOGC`: heap growth percentage between cycles (Go's `GOGC`),
/// or `off`. Defaults to 100.
pub fn gogc_from_env() -> Option<u32> {
    match std::env::var("TRICOLOR_GOGC") {
        Ok(v) if v.trim() == "off" => None,
        Ok(v) => match v.trim().parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                eprintln!("tricolor: ignoring TRICOLOR_GOGC={v}: not a number or `off`");
                Some(100)
            }
        },
        Err(_) => Some(100),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_knob_and_rejects_typos() {
        let k = DebugKnobs::parse(
            "gctrace=1, checkmark=1,stoptheworld=2,clobberfree=1,stress=4096,losemark=7",
        )
        .unwrap();
        assert_eq!(
            k,
            DebugKnobs {
                gctrace: 1,
                checkmark: true,
                stoptheworld: 2,
                clobberfree: true,
                stress: 4096,
                losemark: 7
            }
        );
        assert!(DebugKnobs::parse("gctrace").is_err());
        assert!(DebugKnobs::parse("gctrce=1").is_err());
        assert!(DebugKnobs::parse("stress=lots").is_err());
        assert_eq!(DebugKnobs::parse("").unwrap(), DebugKnobs::default());
    }
}
