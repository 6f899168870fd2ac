//! A small line diff for page text layers, so a reviewer sees *which* words changed,
//! not only that the text layer differs.

/// Lines of one side that a longest-common-subsequence diff keeps unless the texts are
/// this long (then only the first and last differing lines are compared).
const MAX_LINES: usize = 2000;
/// Changed lines shown at most.
const MAX_SHOWN: usize = 40;

/// The changed lines between `old` and `new`, as `- line` / `+ line`, in order; empty
/// when the texts are equal line for line.
pub fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Trim the common head and tail: usually all but a few lines.
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..].iter().rev().zip(b[head..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut out: Vec<String> = Vec::new();
    if a.len() > MAX_LINES || b.len() > MAX_LINES {
        out.extend(a.iter().map(|l| format!("- {l}")));
        out.extend(b.iter().map(|l| format!("+ {l}")));
    } else {
        // lcs[i][j]: length of the LCS of a[i..] and b[j..].
        let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
        for i in (0..a.len()).rev() {
            for j in (0..b.len()).rev() {
                lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            if i < a.len() && j < b.len() && a[i] == b[j] {
                i += 1;
                j += 1;
            } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
                out.push(format!("- {}", a[i]));
                i += 1;
            } else {
                out.push(format!("+ {}", b[j]));
                j += 1;
            }
        }
    }
    if out.len() > MAX_SHOWN {
        let more = out.len() - MAX_SHOWN;
        out.truncate(MAX_SHOWN);
        out.push(format!("… and {more} more changed lines"));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_only_the_changed_lines() {
        let old = "Invoice 42\nAlice\nTotal: 10.00\nThanks";
        let new = "Invoice 42\nAlice\nDiscount: 1.00\nTotal: 9.00\nThanks";
        assert_eq!(line_diff(old, new), "- Total: 10.00\n+ Discount: 1.00\n+ Total: 9.00");
        assert_eq!(line_diff(old, old), "");
        assert_eq!(line_diff("a\nx\nb\ny", "a\nb"), "- x\n- y");
        assert_eq!(line_diff("a\nb", "a"), "- b");
    }

    #[test]
    fn long_diffs_are_cut() {
        let old: String = (0..100).map(|i| format!("old {i}\n")).collect();
        let new: String = (0..100).map(|i| format!("new {i}\n")).collect();
        let diff = line_diff(&old, &new);
        assert_eq!(diff.lines().count(), MAX_SHOWN + 1);
        assert!(diff.ends_with("… and 160 more changed lines"), "{diff}");
    }
}
