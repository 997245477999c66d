//! Retries: exponential backoff for unprocessed batch items, and SDK errors classified into
//! [`StoreError`]s.

use super::*;

/// Exponential backoff with jitter for DynamoDB's unprocessed batch items.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_secs(2),
            attempts: 10,
        }
    }
}

impl Backoff {
    /// Sends `items`, then whatever comes back unprocessed, sleeping longer each time, until
    /// nothing is left or the attempts run out (then the caller fails and AWS retries later).
    pub async fn until_processed<T, F, Fut>(
        &self,
        mut items: Vec<T>,
        mut send: F,
    ) -> Result<(), StoreError>
    where
        F: FnMut(Vec<T>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, StoreError>>,
    {
        let mut delay = self.first;
        for attempt in 1..=self.attempts {
            items = send(items).await?;
            if items.is_empty() {
                return Ok(());
            }
            if attempt < self.attempts {
                tokio::time::sleep(jitter(delay)).await;
                delay = (delay * 2).min(self.max);
            }
        }
        Err(StoreError::Unavailable {
            op: "write report body",
            detail: format!(
                "{} items still unprocessed after {} attempts",
                items.len(),
                self.attempts
            ),
        })
    }
}

/// Half to full `d`, so writers that were throttled together do not retry together.
pub(super) fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d / 2 + d.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

/// Maps an SDK error to a storage error: throttling, timeouts, network and server errors
/// may pass (`Unavailable`); anything else is refused.
pub fn classify<E>(op: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    const TRANSIENT: [&str; 9] = [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "SlowDown",
        "TransactionConflictException",
        "RequestTimeout",
    ];
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => {
            se.raw().status().as_u16() >= 500
                || se.err().code().is_some_and(|c| TRANSIENT.contains(&c))
        }
        _ => false,
    };
    let detail = match &err {
        SdkError::ServiceError(se) => format!(
            "{}: {}",
            se.err().code().unwrap_or("error"),
            se.err().message().unwrap_or("no message")
        ),
        other => aws_sdk_dynamodb::error::DisplayErrorContext(other).to_string(),
    };
    if transient {
        StoreError::Unavailable { op, detail }
    } else {
        StoreError::Refused { op, detail }
    }
}

pub(super) fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Refused {
        op: "build request",
        detail: e.to_string(),
    }
}
