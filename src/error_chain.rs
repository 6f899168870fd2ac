//! Saying an error and its causes once.
//!
//! An error's message often already contains its cause ("could not listen on ADDR: Address
//! already in use"), and the same cause is also its `source()`. Printing the chain as is
//! (anyhow's `{:#}`) then says the cause twice. Third-party errors (the AWS SDK's, lapin's)
//! nest the same way. `chain` prints each link that says something new, in order.

use std::error::Error;

/// An error and its sources, one after the other ("a: b: c"), skipping a source whose text
/// an earlier link already contains.
pub fn chain(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("could not listen on 127.0.0.1:8080: {source}. Is another server using it?")]
    struct SaysItsCause {
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("could not start")]
    struct LeavesItToTheChain {
        #[source]
        source: std::io::Error,
    }

    fn in_use() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::AddrInUse, "Address already in use")
    }

    #[test]
    fn a_cause_the_message_already_says_is_not_repeated() {
        let e = SaysItsCause { source: in_use() };
        assert_eq!(
            chain(&e),
            "could not listen on 127.0.0.1:8080: Address already in use. Is another server using it?"
        );
        let wrapped = anyhow::Error::new(SaysItsCause { source: in_use() }).context("could not start the service");
        let text = chain(wrapped.as_ref());
        assert_eq!(text.matches("Address already in use").count(), 1, "{text}");
        assert!(text.starts_with("could not start the service: could not listen on"), "{text}");
    }

    #[test]
    fn causes_the_message_does_not_say_are_all_printed_in_order() {
        let e = LeavesItToTheChain { source: in_use() };
        assert_eq!(chain(&e), "could not start: Address already in use");
        let wrapped = anyhow::Error::new(e).context("serve");
        assert_eq!(chain(wrapped.as_ref()), "serve: could not start: Address already in use");
    }
}
