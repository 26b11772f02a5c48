import net from 'node:net';

// The kernel may hand a just-released port out again; within one process never give the same one twice.
const given = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    if (given.has(port)) continue;
    given.add(port);
    return port;
  }
}

/**
 * Runs `start` on free ports until one is not taken in the meantime: a port is only free when
 * asked, and another test process may bind it before our server does. `start` must throw
 * `taken`-matching errors for that case only.
 */
export async function onFreePorts<T>(start: () => Promise<T>, taken: (e: unknown) => boolean, tries = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (e) {
      if (i >= tries || !taken(e)) throw e;
    }
  }
}
