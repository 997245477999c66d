// Dovecot from Debian's packages on 127.0.0.1 for the Mailboxes screen: one user
// (dmarc@example.test, password secret), Maildir storage, IMAP without TLS, configured by
// tests/common/dovecot.conf as tests/common/dovecot.rs does; mail is delivered as a delivery agent does, by a
// file renamed into the Maildir's new/.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const USER = 'dmarc@example.test';
export const PASSWORD = 'secret';

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function logsIn(port) {
  return new Promise((resolve) => {
    let seen = '';
    let asked = false;
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(5000, () => { socket.destroy(); resolve(false); });
    socket.on('error', () => resolve(false));
    socket.on('data', (chunk) => {
      seen += chunk;
      if (!asked && seen.startsWith('* OK')) {
        asked = true;
        socket.write(`a LOGIN ${USER} ${PASSWORD}\r\n`);
      }
      const done = seen.split('\r\n').find((line) => line.startsWith('a '));
      if (done) {
        socket.end('b LOGOUT\r\n');
        resolve(done.startsWith('a OK'));
      }
    });
  });
}

export async function serveImap() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rampart-dovecot-'));
  const maildir = path.join(dir, 'mail', USER);
  for (const sub of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(maildir, sub), { recursive: true });
  fs.mkdirSync(path.join(dir, 'run'));
  const port = await freePort();
  const template = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'common', 'dovecot.conf'), 'utf8');
  fs.writeFileSync(path.join(dir, 'dovecot.conf'), template
    .replaceAll('@DIR@', dir).replaceAll('@PORT@', String(port))
    .replaceAll('@SSL@', 'ssl = no').replaceAll('@IMAPS@', 'port = 0'));
  fs.writeFileSync(path.join(dir, 'users'), `${USER}:{PLAIN}${PASSWORD}\n`);
  // Its processes run as nobody: they must be able to write the folder.
  spawnSync('chown', ['-R', 'nobody:nogroup', dir]);
  const child = spawn('dovecot', ['-F', '-c', path.join(dir, 'dovecot.conf')], { stdio: 'ignore' });
  // Listening comes before its authentication process is up: ready once a login succeeds.
  for (let i = 0; i < 400; i += 1) {
    if (await logsIn(port)) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  let delivered = 0;
  return {
    port,
    deliver(raw) {
      delivered += 1;
      const name = `${Date.now()}.${process.pid}_${delivered}.rampart-ui`;
      fs.writeFileSync(path.join(maildir, 'tmp', name), raw);
      fs.renameSync(path.join(maildir, 'tmp', name), path.join(maildir, 'new', name));
    },
    close() {
      child.kill();
      // Its processes may still be writing as they stop: retried, never a failed hook.
      try {
        fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10 });
      } catch (error) {
        console.log(`# ${dir} left behind: ${error.message}`);
      }
    },
  };
}
