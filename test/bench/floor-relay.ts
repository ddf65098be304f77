// The floor of the streaming and overhead benches: the least a service in front of the upstream can add on
// this machine, measured beside the service in the same run. A bare node:http relay with a keep-alive agent,
// no framework, no validation, no logging, run as its own process (fork, the port is sent over IPC):
//   POST /relay       forwards the body to the upstream's /v1/chat/completions and pipes the answer back
//                     (the least a stateless gateway does);
//   POST /turn/{n}    the same around a persisted turn, as cheap as one can be: one single-row UPDATE taking a
//                     turn lock before the call (prepared, synchronous_commit off, like the service's), and
//                     one durable UPDATE + INSERT after it, before the answer ends (a 10-connection pg pool).
// Nothing here is a usable service (no auth, no window, no checks): a lower bound, not a peer.
// Env: FLOOR_UPSTREAM (base URL without /v1), FLOOR_DB_URL, FLOOR_DB_POOL (10).
import http from 'node:http';
import { Pool } from 'pg';

const SESSIONS = 10_000;

export async function startFloorRelay(upstream: string, dbUrl: string, poolSize: number): Promise<{ server: http.Server; pool: Pool }> {
  const pool = new Pool({ connectionString: dbUrl, max: poolSize });
  await pool.query(`CREATE TABLE IF NOT EXISTS floor_sessions (id int PRIMARY KEY, holder text, until_at timestamptz, version int NOT NULL DEFAULT 0)`);
  await pool.query(`CREATE TABLE IF NOT EXISTS floor_messages (session_id int NOT NULL, version int NOT NULL, content text NOT NULL)`);
  await pool.query(`INSERT INTO floor_sessions (id) SELECT g FROM generate_series(1, ${SESSIONS}) g ON CONFLICT DO NOTHING`);
  const u = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const turn = /^\/turn\/(\d+)$/.exec(req.url ?? '');
        const id = turn ? (Number(turn[1]) % SESSIONS) + 1 : 0;
        const holder = turn ? `${process.pid}-${Math.random()}` : '';
        if (turn) {
          const locked = await pool.query({
            name: 'floor_lock',
            text: `UPDATE floor_sessions SET holder = $2, until_at = now() + interval '60 seconds'
                   WHERE id = $1 AND set_config('synchronous_commit', 'off', true) IS NOT NULL RETURNING version`,
            values: [id, holder],
          });
          if (!locked.rows.length) throw new Error('no floor session');
        }
        const up = http.request({ host: u.hostname, port: u.port, path: '/v1/chat/completions', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: req.headers.authorization ?? '' } }, (r) => {
          res.writeHead(r.statusCode ?? 502, { 'content-type': r.headers['content-type'] ?? 'application/json' });
          const reply: Buffer[] = [];
          r.on('data', (c: Buffer) => {
            reply.push(c);
            res.write(c);
          });
          r.on('end', () => {
            if (!turn) return res.end();
            pool
              .query({
                name: 'floor_commit',
                text: `WITH s AS (UPDATE floor_sessions SET holder = NULL, until_at = NULL, version = version + 1 WHERE id = $1 AND holder = $2 RETURNING id, version)
                       INSERT INTO floor_messages (session_id, version, content) SELECT id, version, $3 FROM s`,
                values: [id, holder, Buffer.concat(reply).toString('utf8').slice(0, 4000)],
              })
              .then(() => res.end(), (err: Error) => res.destroy(err));
          });
        });
        up.on('error', (err) => res.destroy(err));
        up.end(body);
      })().catch((err: Error) => {
        res.writeHead(500);
        res.end(err.message);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, pool };
}

if (require.main === module) {
  startFloorRelay(process.env.FLOOR_UPSTREAM ?? '', process.env.FLOOR_DB_URL ?? '', Number(process.env.FLOOR_DB_POOL ?? 10)).then(
    ({ server }) => process.send?.({ port: (server.address() as import('node:net').AddressInfo).port }),
    (err: Error) => {
      console.error(err);
      process.exit(1);
    },
  );
}
