//! `init_runtime` sizes async-std's executor at one thread. Its own test binary, because the
//! first start of the runtime fixes its size for the whole process.

#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

/// The threads of this process whose name is `name`.
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

#[test]
fn the_runtime_runs_one_executor_thread() {
    assert!(
        std::env::var_os("ASYNC_STD_THREAD_COUNT").is_none(),
        "ASYNC_STD_THREAD_COUNT is set: it overrides the size this test checks"
    );
    headway_driver_async_std::init_runtime();
    // Work for the executor, from two tasks at once: a runtime with more threads would
    // have started them all by now.
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            async_std::task::spawn(async {
                async_std::task::sleep(Duration::from_millis(50)).await
            })
        })
        .collect();
    async_std::task::block_on(async {
        for task in tasks {
            task.await;
        }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while threads_named("async-std/runti") == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(threads_named("async-std/runti"), 1);
}
