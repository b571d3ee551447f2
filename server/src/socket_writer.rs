//! A socket's writing half, shared by its writer task and by publishers that write a broadcast
//! into it themselves.
//!
//! Every frame for a client goes through its bounded inbox ([`Inbox`]) and this socket's writer
//! task, except one case: a publisher that finds the socket idle — nothing queued, nothing held,
//! everything flushed — hands the frame to the socket on its own thread
//! ([`DirectWrite::try_write`]), so a broadcast at moderate load is written by one thread in
//! one pass, the first frame going out at once, without waking a writer task per client (which
//! put both cores of a 2-core box to work on every broadcast and made any other process on it,
//! a load generator or the clients themselves, wait for a core: the fan-out benchmark notes,
//! 2026-12-06). When the socket is not idle the frame is queued as always, so order holds and
//! the slow-consumer limit counts every byte not yet accepted by the kernel but one frame.
//! Whether a broadcast tries direct writes at all is the broker's call ([`crate::broker`]'s
//! pacing): under a burst the queues and the writers' batched flushes are faster.
//!
//! The state both sides touch sits behind one `std::sync::Mutex`, held only for non-blocking
//! polls. Publishers only `try_lock` it (a busy writer means "queue it").

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::oneshot;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use crate::broker::{DirectWrite, Inbox};

/// Most frames written before one flush; batching keeps fan-out cheap.
const WRITE_BATCH: usize = 64;
/// How long a close frame may take to reach a client that is not reading.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Tells the writer to close the socket.
#[derive(Debug)]
pub struct CloseCommand {
    /// The close frame to send.
    pub frame: CloseFrame,
    /// Deliver what is already queued first (an error frame before its close, say); not for a
    /// slow consumer, whose full queue is the problem.
    pub drain: bool,
}

type Sink = SplitSink<WebSocket, Message>;

/// What the writer task and direct writers share.
struct Out {
    /// `None` once the writer has taken it to close the socket.
    sink: Option<Sink>,
    /// A frame taken from the inbox but not yet accepted by the sink (it was not ready).
    held: Option<Message>,
    /// The writer task's waker: direct writes register it with the socket, so the writer
    /// finishes a flush they could not.
    waker: Option<Waker>,
    /// Nothing handed to the sink is waiting for a flush.
    flushed: bool,
    /// A direct write failed; the writer reports it and ends, as for its own failed write.
    failed: Option<axum::Error>,
}

/// One socket's writing half: cloned into the subscriber (for direct writes) and the writer.
#[derive(Clone)]
pub struct SocketOut {
    out: Arc<Mutex<Out>>,
    written: Counter,
}

impl std::fmt::Debug for SocketOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketOut").finish_non_exhaustive()
    }
}

/// Whether a frame counts as a message written (control frames do not).
fn counts(frame: &Message) -> bool {
    !matches!(frame, Message::Ping(_) | Message::Pong(_))
}

impl SocketOut {
    /// The writing half of `sink`; `written` counts the messages it writes.
    pub fn new(sink: Sink, written: Counter) -> Self {
        Self {
            out: Arc::new(Mutex::new(Out {
                sink: Some(sink),
                held: None,
                waker: None,
                flushed: true,
                failed: None,
            })),
            written,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Out> {
        // Nothing panics while holding it; a poisoned lock still guards consistent fields.
        crate::broker::lock(&self.out)
    }

    /// Writes what is queued (up to a batch) and flushes. `Ready(Ok(true))` after progress,
    /// `Ready(Ok(false))` once the inbox is closed and empty; `Pending` with nothing to do.
    fn poll_write(
        &self,
        cx: &mut Context<'_>,
        outbox: &mut Inbox,
    ) -> Poll<Result<bool, axum::Error>> {
        let mut guard = self.lock();
        let out = &mut *guard;
        if let Some(e) = out.failed.take() {
            return Poll::Ready(Err(e));
        }
        if !out.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            out.waker = Some(cx.waker().clone());
        }
        let Some(sink) = out.sink.as_mut() else {
            return Poll::Ready(Ok(false));
        };
        let mut open = true;
        let mut sent = 0;
        while sent < WRITE_BATCH {
            if out.held.is_none() {
                match outbox.poll_recv(cx) {
                    Poll::Ready(Some(frame)) => out.held = Some(frame),
                    Poll::Ready(None) => {
                        open = false;
                        break;
                    }
                    Poll::Pending => break,
                }
            }
            match sink.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
            let Some(frame) = out.held.take() else { break };
            let counted = counts(&frame);
            sink.start_send_unpin(frame)?;
            out.flushed = false;
            sent += 1;
            if counted {
                self.written.inc();
            }
        }
        if !out.flushed {
            match sink.poll_flush_unpin(cx) {
                Poll::Ready(Ok(())) => out.flushed = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if sent > 0 || !open {
            Poll::Ready(Ok(open))
        } else {
            Poll::Pending
        }
    }

    /// Sends the close frame (after what is queued, when `drain`), bounded in time.
    async fn finish(&self, outbox: &mut Inbox, command: CloseCommand) {
        let (sink, held) = {
            let mut out = self.lock();
            (out.sink.take(), out.held.take())
        };
        let Some(mut sink) = sink else { return };
        // A client that stopped reading may never take these frames; do not wait forever.
        let _ = timeout(CLOSE_WRITE_TIMEOUT, async {
            if command.drain {
                if let Some(frame) = held {
                    sink.feed(frame).await?;
                }
                while let Ok(frame) = outbox.try_recv() {
                    sink.feed(frame).await?;
                }
            }
            sink.send(Message::Close(Some(command.frame))).await
        })
        .await;
    }
}

impl DirectWrite for SocketOut {
    fn try_write(&self, message: Message, queued: &AtomicUsize) -> Result<(), Message> {
        let mut guard = match self.out.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(message),
        };
        let out = &mut *guard;
        // Frames taken from the inbox are held under this lock until the sink accepts them, so
        // "nothing queued, nothing held, all flushed" means nothing of this client's is ahead.
        if !out.flushed
            || out.held.is_some()
            || out.failed.is_some()
            || queued.load(Ordering::Acquire) != 0
            // tokio's cooperative budget would make the socket report "not ready" falsely.
            || !tokio::task::coop::has_budget_remaining()
        {
            return Err(message);
        }
        let (Some(sink), Some(waker)) = (out.sink.as_mut(), out.waker.as_ref()) else {
            return Err(message);
        };
        // The writer's waker: if the socket cannot take it all now, the writer is woken to
        // finish the flush.
        let mut cx = Context::from_waker(waker);
        match sink.poll_ready_unpin(&mut cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Pending | Poll::Ready(Err(_)) => return Err(message),
        }
        let counted = counts(&message);
        if let Err(e) = sink.start_send_unpin(message) {
            // The socket is broken: the frame goes with it, as a queued one would.
            out.failed = Some(e);
            waker.wake_by_ref();
            return Ok(());
        }
        if counted {
            self.written.inc();
        }
        match sink.poll_flush_unpin(&mut cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Pending => out.flushed = false,
            Poll::Ready(Err(e)) => {
                out.failed = Some(e);
                waker.wake_by_ref();
            }
        }
        Ok(())
    }
}

/// The writer task: drains `outbox` into the socket until the reader's side is gone or it
/// asks for a close; cancels `gone` when it ends (the socket is then closed or broken).
pub async fn write_loop(
    out: SocketOut,
    mut outbox: Inbox,
    mut close_rx: oneshot::Receiver<CloseCommand>,
    gone: CancellationToken,
) {
    let mut open = true;
    while open {
        tokio::select! {
            biased;
            command = &mut close_rx => {
                if let Ok(command) = command {
                    out.finish(&mut outbox, command).await;
                }
                break;
            }
            result = std::future::poll_fn(|cx| out.poll_write(cx, &mut outbox)) => match result {
                Ok(more) => open = more,
                Err(e) => {
                    tracing::debug!(error = %e, "socket write failed");
                    gone.cancel();
                    return;
                }
            },
        }
    }
    if !open {
        // Every sender is gone: the reader has finished and may still want a close sent.
        if let Ok(command) = close_rx.await {
            out.finish(&mut outbox, command).await;
        }
    }
    gone.cancel();
}
