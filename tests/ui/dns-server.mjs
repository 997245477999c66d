// A DNS server on 127.0.0.1 (UDP) answering from a fixed zone, for `rampart serve`'s DNS
// health checks in the browser tests: `records` is a list of [name, type, value] with type
// TXT, MX ("10 mx.example.com"), A or CNAME. A name with no record of the asked type answers
// NODATA; a name not in the zone answers NXDOMAIN.

import dgram from 'node:dgram';
import packet from 'dns-packet';

export async function serveDns(records) {
  const zone = new Map();
  for (const [name, type, value] of records) {
    const key = name.toLowerCase();
    if (!zone.has(key)) zone.set(key, []);
    zone.get(key).push({ type, value });
  }
  const socket = dgram.createSocket('udp4');
  socket.on('message', (message, peer) => {
    let query;
    try {
      query = packet.decode(message);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question) return;
    const name = question.name.toLowerCase().replace(/\.$/, '');
    const held = zone.get(name);
    const answers = (held ?? [])
      .filter((r) => r.type === question.type || r.type === 'CNAME')
      .map((r) => ({ name: question.name, type: r.type, class: 'IN', ttl: 60, data: data(r) }));
    const reply = packet.encode({
      id: query.id,
      type: 'response',
      flags: packet.AUTHORITATIVE_ANSWER | (query.flags & packet.RECURSION_DESIRED) | packet.RECURSION_AVAILABLE,
      rcode: held ? 'NOERROR' : 'NXDOMAIN',
      questions: [question],
      answers,
    });
    socket.send(reply, peer.port, peer.address);
  });
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { address: `127.0.0.1:${socket.address().port}`, close: () => socket.close() };
}

function data(record) {
  switch (record.type) {
    case 'TXT': return [record.value];
    case 'MX': {
      const [preference, exchange] = record.value.split(' ');
      return { preference: Number(preference), exchange };
    }
    default: return record.value;
  }
}
