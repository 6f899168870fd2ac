//! Resident memory of a browser: the Chromium process and every process below it (its
//! zygote, renderers and utility processes), read from `/proc`.
//!
//! Used to replace a browser that has grown past the pool's memory ceiling (a document
//! with a huge canvas or a leak in a long-lived renderer) before it takes the machine down.

use std::collections::BTreeMap;

/// Sum of `VmRSS` over `root` and all its descendants, in bytes. Processes that vanish
/// while being read count as 0; on a system without `/proc` the answer is 0.
pub fn tree_rss(root: u32) -> u64 {
    let parents = parent_map();
    let mut total = 0;
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        total += rss(pid);
        stack.extend(parents.iter().filter(|(_, &ppid)| ppid == pid).map(|(&child, _)| child));
    }
    total
}

/// Whether process `pid` still runs: it exists in `/proc` and is not a zombie (`Z`) or dead
/// (`X`). A Chromium killed with `kill -9` stays a zombie until it is reaped, so this is how a
/// print in progress learns its browser is gone. `true` on a system without `/proc`.
pub fn is_running(pid: u32) -> bool {
    if !std::path::Path::new("/proc/self").exists() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(stat_state(&stat), Some('Z' | 'X')),
        Err(_) => false,
    }
}

/// The state letter from `/proc/PID/stat` (the field after `(comm)`).
fn stat_state(stat: &str) -> Option<char> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().next()?.chars().next()
}

/// Every process id and its parent's.
fn parent_map() -> BTreeMap<u32, u32> {
    let mut map = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return map };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if let Some(ppid) = std::fs::read_to_string(entry.path().join("stat")).ok().and_then(|s| stat_ppid(&s)) {
            map.insert(pid, ppid);
        }
    }
    map
}

/// The parent pid from `/proc/PID/stat`: the field after the `(comm)` that may contain spaces.
fn stat_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// `VmRSS` of one process in bytes (0 when it is gone).
fn rss(pid: u32) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        assert_eq!(stat_ppid("123 (Web Content (x)) S 77 123 123 0"), Some(77));
    }

    #[test]
    fn this_process_uses_memory_and_its_children_count() {
        let own = tree_rss(std::process::id());
        assert!(own > 1 << 20, "{own}");
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let me = std::process::id();
        let (tree, alone, theirs) = (tree_rss(me), rss(me), rss(child.id()));
        let _ = child.kill();
        let _ = child.wait();
        assert!(theirs > 0 && tree > alone, "tree {tree}, this process {alone}, the child {theirs}");
    }

    #[test]
    fn a_killed_child_is_not_running_even_before_it_is_reaped() {
        assert_eq!(stat_state("123 (Web Content (x)) Z 77 123"), Some('Z'));
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        assert!(is_running(child.id()));
        let _ = std::process::Command::new("kill").args(["-9", &child.id().to_string()]).status();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!is_running(child.id()), "a zombie is not running");
        let _ = child.wait();
        assert!(!is_running(child.id()), "a reaped process is not running");
    }
}
