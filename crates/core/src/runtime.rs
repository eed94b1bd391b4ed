//! The one tokio runtime of the library, started on first use. Exports block on it, so a
//! host thread never needs to know that tokio exists.

use std::sync::LazyLock;

use tokio::runtime::Runtime;

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get().clamp(2, 8))
        .unwrap_or(2);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("vxm-runtime")
        .enable_all()
        .build()
        .expect("the velox_middleware runtime could not start")
});

pub fn runtime() -> &'static Runtime {
    &RUNTIME
}
