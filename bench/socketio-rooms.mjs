// Shared by the socket.io 4 benchmark servers (bench/fanout/, bench/recovery/): the `join` event
// as both handle it, so the two servers check room names the same way our dev server does.

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
