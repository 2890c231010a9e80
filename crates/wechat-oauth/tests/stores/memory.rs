use wechat_oauth::MemoryStore;
use wechat_oauth::store::conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_conformance_suite() {
    conformance::run(&MemoryStore::new()).await;
}
