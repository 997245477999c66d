// An SMTP server on 127.0.0.1 (no TLS: `rampart serve --smtp smtp+insecure://…`) for the
// browser tests: it accepts every message, except that RCPT TO an address in `refuse` gets
// a permanent 550, as a receiving server answers a mailbox that does not exist. `received`
// lists each accepted message's recipients.

import net from 'node:net';

export async function serveSmtp(refuse) {
  const refused = new Set(refuse.map((a) => a.toLowerCase()));
  const received = [];
  const server = net.createServer((socket) => {
    socket.setEncoding('latin1');
    let buffer = '';
    let data = false;
    let recipients = [];
    const say = (line) => socket.write(`${line}\r\n`);
    say('220 smtp.test ESMTP');
    socket.on('data', (chunk) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (data) {
          if (line === '.') {
            data = false;
            received.push(recipients);
            recipients = [];
            say('250 2.0.0 queued');
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') say('250 smtp.test');
        else if (verb === 'MAIL') say('250 2.1.0 ok');
        else if (verb === 'RCPT') {
          const address = (line.match(/<([^>]*)>/)?.[1] ?? '').toLowerCase();
          if (refused.has(address)) say(`550 5.1.1 <${address}>: Recipient address rejected: User unknown`);
          else {
            recipients.push(address);
            say('250 2.1.5 ok');
          }
        } else if (verb === 'DATA') {
          data = true;
          say('354 end with .');
        } else if (verb === 'RSET') {
          recipients = [];
          say('250 2.0.0 ok');
        } else if (verb === 'QUIT') {
          say('221 2.0.0 bye');
          socket.end();
        } else say('502 5.5.2 not implemented');
      }
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `smtp+insecure://127.0.0.1:${server.address().port}`,
    received,
    close: () => server.close(),
  };
}
