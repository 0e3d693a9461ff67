//! Capturing log lines in memory, so a test can assert no secret was
//! logged. [`LogCapture::global`] installs one process-wide subscriber (a
//! server's tasks log from any worker thread); [`LogCapture::scoped`] one
//! for the current thread only.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Every line written so far; cheap to clone.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    fn subscriber(&self, level: tracing::Level) -> impl tracing::Subscriber + Send + Sync {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(move || writer.clone())
            .finish()
    }

    /// The capture of this whole test binary at `level` (the first call's
    /// level wins).
    pub fn global(level: tracing::Level) -> &'static LogCapture {
        static GLOBAL: OnceLock<LogCapture> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let capture = LogCapture::default();
            tracing::subscriber::set_global_default(capture.subscriber(level))
                .expect("no other global subscriber in this test binary");
            capture
        })
    }

    /// A capture of this thread's logs at `level` while the guard lives.
    pub fn scoped(level: tracing::Level) -> (LogCapture, tracing::subscriber::DefaultGuard) {
        let capture = LogCapture::default();
        let guard = tracing::subscriber::set_default(capture.subscriber(level));
        (capture, guard)
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
