//! Memory figures of this process, for the benchmarks.

/// A `kB` field of `/proc/self/status` (`"VmRSS:"`, `"VmHWM:"`), or None where there is
/// no such file (not Linux) or no such field.
pub fn status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find_map(|l| {
        l.strip_prefix(field)?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}
