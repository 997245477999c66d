//! Unit tests of the item codecs and retries.

use super::*;
use std::sync::Mutex;

#[tokio::test]
async fn unprocessed_items_are_resent_until_none_are_left() {
    let backoff = Backoff {
        first: Duration::from_millis(1),
        max: Duration::from_millis(4),
        attempts: 10,
    };
    let calls = Mutex::new(Vec::new());
    // DynamoDB-like: each call processes only the first item it is given.
    backoff
        .until_processed(vec![1, 2, 3, 4], |items: Vec<i32>| {
            calls.lock().unwrap().push(items.clone());
            async move { Ok(items[1..].to_vec()) }
        })
        .await
        .unwrap();
    assert_eq!(
        *calls.lock().unwrap(),
        vec![vec![1, 2, 3, 4], vec![2, 3, 4], vec![3, 4], vec![4]]
    );
}

#[tokio::test]
async fn items_never_processed_end_in_a_retryable_error() {
    let backoff = Backoff {
        first: Duration::from_millis(1),
        max: Duration::from_millis(2),
        attempts: 3,
    };
    let mut calls = 0;
    let err = backoff
        .until_processed(vec![1, 2], |items: Vec<i32>| {
            calls += 1;
            async move { Ok(items) }
        })
        .await
        .unwrap_err();
    assert_eq!(calls, 3);
    assert_eq!(
        err.to_string(),
        "write report body: storage unavailable: 2 items still unprocessed after 3 attempts"
    );
}
