// A small SMTP server for the browser tests: plain SMTP on 127.0.0.1 (a
// free port), accepting every message and keeping it, so a test can follow
// the link an account email carries, as the person would. It speaks just
// what an SMTP client sending one message needs (EHLO, MAIL, RCPT, DATA,
// RSET, NOOP, QUIT); no TLS, no AUTH: the server's test settings allow
// plain smtp:// outside production.

import net from 'node:net';
import { once } from 'node:events';

/** Turns a quoted-printable body back into its bytes (RFC 2045 §6.7). */
function fromQuotedPrintable(text) {
  const bytes = text
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-Fa-f]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** Splits a message (or a MIME part) into lower-cased headers and body. */
function splitHead(raw) {
  const end = raw.indexOf('\r\n\r\n');
  const head = end < 0 ? raw : raw.slice(0, end);
  const body = end < 0 ? '' : raw.slice(end + 4);
  const headers = {};
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

/** The readable text of a message: every text part, decoded. */
function textOf(raw) {
  const { headers, body } = splitHead(raw);
  const type = headers['content-type'] ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (/^multipart\//i.test(type) && boundary) {
    return body.split(`--${boundary}`).slice(1)
      .filter((part) => !part.startsWith('--'))
      .map((part) => textOf(part.replace(/^\r\n/, '')))
      .join('\n');
  }
  const encoding = (headers['content-transfer-encoding'] ?? '').toLowerCase();
  if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (encoding === 'quoted-printable') return fromQuotedPrintable(body);
  return body;
}

/** A running sink: `port`, `messages`, `nextTo(address)`, `stop()`. */
export async function startSmtpSink() {
  const messages = [];
  const waiters = new Set();
  const sockets = new Set();

  function deliver(message) {
    messages.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.matches(message)) {
        waiters.delete(waiter);
        waiter.resolve(message);
      }
    }
  }

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.setEncoding('latin1');
    const reply = (...lines) => socket.write(`${lines.join('\r\n')}\r\n`);
    let buffer = '';
    let envelope = { from: null, to: [] };
    let data = null;
    reply('220 sink.test ESMTP ready');
    socket.on('data', (chunk) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (data) {
          if (line === '.') {
            const raw = Buffer.from(data.join('\r\n'), 'latin1').toString('latin1');
            const { headers } = splitHead(raw);
            deliver({ from: envelope.from, to: envelope.to, subject: headers.subject ?? '', raw, text: textOf(raw) });
            data = null;
            envelope = { from: null, to: [] };
            reply('250 2.0.0 accepted');
          } else {
            data.push(line.startsWith('.') ? line.slice(1) : line);
          }
          continue;
        }
        const verb = line.split(/[ :]/, 1)[0].toUpperCase();
        const address = () => /<([^>]*)>/.exec(line)?.[1] ?? '';
        if (verb === 'EHLO') reply('250-sink.test', '250-8BITMIME', '250-SMTPUTF8', '250 PIPELINING');
        else if (verb === 'HELO') reply('250 sink.test');
        else if (verb === 'MAIL') { envelope = { from: address(), to: [] }; reply('250 2.1.0 ok'); }
        else if (verb === 'RCPT') { envelope.to.push(address().toLowerCase()); reply('250 2.1.5 ok'); }
        else if (verb === 'DATA') { data = []; reply('354 end with <CRLF>.<CRLF>'); }
        else if (verb === 'RSET') { envelope = { from: null, to: [] }; reply('250 2.0.0 ok'); }
        else if (verb === 'NOOP') reply('250 2.0.0 ok');
        else if (verb === 'QUIT') { reply('221 2.0.0 bye'); socket.end(); }
        else reply('502 5.5.2 not implemented');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  return {
    port: server.address().port,
    messages,
    /** The next message to `address` (one already here counts), within
     * `limitMs`; rejects past it, naming what did arrive. */
    nextTo(address, { limitMs = 20_000, after = 0 } = {}) {
      const wanted = address.toLowerCase();
      const matches = (m) => m.to.includes(wanted);
      const here = messages.slice(after).find(matches);
      if (here) return Promise.resolve(here);
      return new Promise((resolve, reject) => {
        const waiter = { matches, resolve };
        waiters.add(waiter);
        setTimeout(() => {
          if (!waiters.delete(waiter)) return;
          reject(new Error(`no mail to ${address} within ${limitMs} ms; got ${messages.length}: `
            + messages.map((m) => `${m.to.join(',')} "${m.subject}"`).join('; ')));
        }, limitMs).unref();
      });
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** The token of the `/reset-password` or `/verify-email` link in a mail. */
export function linkToken(message, page) {
  const match = new RegExp(`/${page}\\?token=([A-Za-z0-9._~%-]+)`).exec(message.text);
  if (!match) throw new Error(`no /${page} link in the mail:\n${message.text}`);
  return decodeURIComponent(match[1]);
}
