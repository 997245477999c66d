//! What every Rampart Lambda function does at init, before it builds its clients.

/// JSON logs for a Lambda function: the level from `AWS_LAMBDA_LOG_LEVEL` (set by the
/// function's logging config) or `RUST_LOG`, `info` by default; CloudWatch adds the time.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
                .or_else(|_| EnvFilter::try_from_default_env())
                .unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .init();
}
