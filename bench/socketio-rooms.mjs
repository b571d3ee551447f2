// Shared by the socket.io 4 benchmark servers (bench/fanout/, bench/recovery/): the `join` event
// as both handle it (room names checked as our dev server does), and how both listen and stop.

const ROOM = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * Handles `join {room}`: a valid room name joins `socket` to it and acks `reply(room)`; anything
 * else acks `{error: "invalid"}` (when the client asked for an ack) and joins nothing.
 */
export function onJoin(socket, reply) {
  socket.on('join', (msg, ack) => {
    const room = msg && typeof msg.room === 'string' ? msg.room : '';
    if (!ROOM.test(room)) {
      if (typeof ack === 'function') ack({ error: 'invalid', message: 'bad room' });
      return;
    }
    socket.join(room);
    if (typeof ack === 'function') ack({ room, ...reply(room) });
  });
}

/** Listens on 127.0.0.1:`port` (0: any free port), prints "listening on URL", closes on SIGTERM/SIGINT. */
export function listen(http, io, port) {
  http.listen(port, '127.0.0.1', () => {
    console.log(`listening on http://127.0.0.1:${http.address().port}`);
  });
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      io.close();
      process.exit(0);
    });
  }
}
