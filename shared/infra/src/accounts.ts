// Test tooling: a fresh account on a running Taskfleet API (register, then log in), for tests that go
// through the gateway or the edge.
export interface Account {
  email: string;
  accessToken: string;
  /** The Authorization header that carries the access token. */
  auth: { authorization: string };
}

export async function newAccount(apiUrl: string, tag = 'test'): Promise<Account> {
  const credentials = {
    email: `${tag}-${crypto.randomUUID()}@example.test`,
    password: 'correct horse battery staple',
  };
  // As a client should: a 503 (a gateway shedding load, a replica restarting) is retried after its
  // Retry-After, a few times. Register and login are both safe to repeat.
  const post = async (path: string) => {
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(`${apiUrl}${path}`, {
        method: 'POST',
        body: JSON.stringify(credentials),
        headers: { 'content-type': 'application/json' },
      });
      if (res.status !== 503 || attempt === 10) return res;
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, 1_000 * Number(res.headers.get('retry-after') ?? 1)));
    }
  };
  const registered = await post('/v1/auth/register');
  if (registered.status !== 201) throw new Error(`register: ${registered.status} ${await registered.text()}`);
  const login = await post('/v1/auth/login');
  if (login.status !== 200) throw new Error(`login: ${login.status} ${await login.text()}`);
  const { accessToken } = (await login.json()) as { accessToken: string };
  return { email: credentials.email, accessToken, auth: { authorization: `Bearer ${accessToken}` } };
}
