/**
 * The FTP ALG part of the demo: an inside client (192.168.1.10, userspace TCP) downloads a file
 * in active mode from an FTP server outside (198.51.100.21) through a Nat with the FtpHelper. The
 * client announces its private address in `PORT`; the helper rewrites it to the NAT's external
 * address and an external port and expects the server's data connection, which the NAT then
 * maps back to the client. The scene logs the PORT line before and after the rewrite.
 */
import { createHash } from 'node:crypto';
import { FtpHelper } from '@l3kit/alg';
import { type Capture, type Clock, connectL3, ManualScheduler } from '@l3kit/core';
import { Nat } from '@l3kit/nat';
import { type TcpSocket, VirtualHost } from '@l3kit/stack';

/** What the FTP scene did. */
export interface FtpSceneResult {
  /** The PORT command as the client sent it (private address). */
  portSent: string;
  /** The PORT command as the server received it (after the helper's rewrite). */
  portReceived: string;
  /** Bytes the client received on the data connection, and whether they match the file. */
  bytes: number;
  intact: boolean;
  /** The server's replies the client saw, in order. */
  replies: string[];
  /** The helper's counters after the transfer. */
  helper: FtpHelper['stats'];
}

const SERVER = '198.51.100.21';
const FILE_SIZE = 64 * 1024;
const DATA_PORT = 50020;

/** Reads CRLF lines from a socket; `next()` resolves with the next one. */
class LineReader {
  private buf = '';
  private readonly lines: string[] = [];
  private waiter: ((l: string) => void) | undefined;
  constructor(sock: TcpSocket) {
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      let i = this.buf.indexOf('\r\n');
      while (i >= 0) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 2);
        i = this.buf.indexOf('\r\n');
      }
      this.flush();
    });
  }
  private flush(): void {
    if (this.waiter && this.lines.length > 0) {
      const w = this.waiter;
      this.waiter = undefined;
      w(this.lines.shift() as string);
    }
  }
  next(): Promise<string> {
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.flush();
    });
  }
}

/** A tiny active-mode FTP server: USER, TYPE, PORT, RETR of one file, QUIT. */
function serve(host: VirtualHost, file: Buffer, onPort: (line: string) => void): void {
  host.tcp.listen(21, async (ctl) => {
    const reader = new LineReader(ctl);
    const reply = (s: string) => ctl.write(`${s}\r\n`);
    reply('220 l3kit demo FTP server');
    let target: { host: string; port: number } | undefined;
    for (;;) {
      const cmd = await reader.next();
      const verb = cmd.split(' ', 1)[0].toUpperCase();
      if (verb === 'USER') reply('230 Login successful.');
      else if (verb === 'TYPE') reply('200 Switching to Binary mode.');
      else if (verb === 'PORT') {
        onPort(cmd);
        const f = cmd.slice(5).split(',').map(Number);
        const addr = f.slice(0, 4).join('.');
        // As vsftpd: the data connection goes only to the control connection's peer.
        if (addr !== ctl.remoteAddress) reply('500 Illegal PORT command.');
        else {
          target = { host: addr, port: f[4] * 256 + f[5] };
          reply('200 PORT command successful.');
        }
      } else if (verb === 'RETR' && target) {
        reply(`150 Opening BINARY mode data connection (${file.length} bytes).`);
        const data = host.tcp.connect({ ...target, localPort: 20 });
        data.resume();
        data.on('connect', () => data.end(file));
        data.on('close', () => reply('226 Transfer complete.'));
        target = undefined;
      } else if (verb === 'QUIT') {
        reply('221 Goodbye.');
        ctl.end();
        return;
      } else reply('502 Command not implemented.');
    }
  });
}

/** Runs the scene; packets are recorded (and printed) through `cap`. */
export async function runFtpScene(
  cap: Capture,
  log: (line: string) => void,
  clock: Clock,
): Promise<FtpSceneResult> {
  const nat = new Nat({ inside: '192.168.1.1/24', outside: '203.0.113.1/24', clock, maintainIntervalMs: 0 });
  const ftp = new FtpHelper();
  nat.addHelper(ftp);
  const client = new VirtualHost({ addr: '192.168.1.10/24', gateway: '192.168.1.1', clock });
  const server = new VirtualHost({ addr: `${SERVER}/24`, gateway: '198.51.100.1', clock });
  connectL3(cap.tap(client, 'ftp-client'), nat.inside());
  connectL3(nat.outside(), cap.tap(server, 'ftp-server'));
  // With a manual clock (tests) the hosts' timers are driven here; with a wall clock they run on their own.
  let pumping = true;
  const pump = async () => {
    const scheds = [client.scheduler, server.scheduler].filter((s) => s instanceof ManualScheduler);
    while (pumping && scheds.length > 0) {
      for (const s of scheds) (s as ManualScheduler).advance(5);
      await new Promise((r) => setImmediate(r));
    }
  };
  const file = Buffer.alloc(FILE_SIZE);
  for (let i = 0; i < file.length; i++) file[i] = (i * 7 + (i >> 8)) & 0xff;
  let portReceived = '';
  serve(server, file, (line) => {
    portReceived = line;
  });
  const chunks: Buffer[] = [];
  const received = new Promise<void>((resolve) => {
    client.tcp.listen(DATA_PORT, (d) => {
      d.on('data', (c: Buffer) => chunks.push(c));
      d.on('end', () => resolve());
    });
  });
  const pumped = pump();
  // The hosts' wall-clock timers are unref'd: keep the process alive until the scene is done.
  const keepAlive = setInterval(() => {}, 1000);
  const replies: string[] = [];
  try {
    const ctl = client.tcp.connect({ host: SERVER, port: 21 });
    const reader = new LineReader(ctl);
    const final = async () => {
      let line = await reader.next();
      while (line.startsWith('1')) {
        replies.push(line);
        line = await reader.next();
      }
      replies.push(line);
      return line;
    };
    const send = async (cmd: string) => {
      ctl.write(`${cmd}\r\n`);
      return final();
    };
    await final();
    await send('USER anonymous');
    await send('TYPE I');
    const portSent = `PORT 192,168,1,10,${DATA_PORT >> 8},${DATA_PORT & 255}`;
    const portReply = await send(portSent);
    log(`   client sent      ${portSent}   (its private address and port)`);
    log(`   server received  ${portReceived}   (rewritten by the FTP helper)`);
    log(`   server answered  ${portReply}`);
    let intact = false;
    let bytes = 0;
    if (portReply.startsWith('200')) {
      const done = await send('RETR demo.bin');
      await received;
      const got = Buffer.concat(chunks);
      bytes = got.length;
      const h = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      intact = h(got) === h(file);
      log(
        `   RETR demo.bin: ${done}; ${bytes} bytes over the expected data connection, ${intact ? 'intact' : 'CORRUPT'}`,
      );
    }
    await send('QUIT');
    log(
      `   FTP helper: ${ftp.stats.rewrites} rewrite(s), ${ftp.stats.expectations} expectation(s); NAT used ${nat.stats.expectationsUsed}`,
    );
    return { portSent, portReceived, bytes, intact, replies, helper: { ...ftp.stats } };
  } finally {
    pumping = false;
    clearInterval(keepAlive);
    await pumped;
    client.close();
    server.close();
    nat.close();
  }
}
