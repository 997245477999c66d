//! What every Rampart Lambda function does at init, before it builds its clients.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// JSON logs for a Lambda function: the level from `AWS_LAMBDA_LOG_LEVEL` (set by the
/// function's logging config) or `RUST_LOG` (`info`, or `target=level,...`), `info` by
/// default; CloudWatch adds the time.
///
/// `Targets` rather than `EnvFilter`: the same directives without span field filters, and
/// without the regex engine, which would be a tenth of the policy host's package.
pub fn init_logging() {
    let var = |name: &str| std::env::var(name).ok();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_target(false)
                .without_time(),
        )
        .with(filter(var("AWS_LAMBDA_LOG_LEVEL"), var("RUST_LOG")))
        .init();
}

/// Lambda's level names (`TRACE` … `ERROR`, and `FATAL`, which tracing calls `error`) or
/// `RUST_LOG` directives; what does not parse leaves the default.
fn filter(lambda_level: Option<String>, rust_log: Option<String>) -> Targets {
    let lambda_level = lambda_level.map(|l| match l.to_ascii_lowercase().as_str() {
        "fatal" => "error".to_owned(),
        other => other.to_owned(),
    });
    lambda_level
        .into_iter()
        .chain(rust_log)
        .find_map(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_come_from_lambda_then_rust_log() {
        let level = |l: Option<&str>, r: Option<&str>| {
            filter(l.map(str::to_owned), r.map(str::to_owned)).default_level()
        };
        assert_eq!(
            level(Some("DEBUG"), Some("trace")),
            Some(LevelFilter::DEBUG)
        );
        assert_eq!(level(Some("FATAL"), None), Some(LevelFilter::ERROR));
        assert_eq!(level(None, Some("warn")), Some(LevelFilter::WARN));
        assert_eq!(level(None, None), Some(LevelFilter::INFO));
        let targets = filter(None, Some("rampart_store=debug,warn".to_owned()));
        assert!(targets.would_enable("rampart_store", &tracing::Level::DEBUG));
        assert!(!targets.would_enable("hyper", &tracing::Level::INFO));
    }
}
