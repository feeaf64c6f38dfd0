/**
 * A browser without a browser, for server-rendered example apps: one cookie jar, redirects not
 * followed (so each step's status and Location are visible), and the CSRF token read from the
 * last page's hidden `_csrf` field.
 */

export interface Page {
  readonly status: number
  readonly location: string | null
  readonly text: string
}

export interface FormClient {
  get(path: string): Promise<Page>
  /** POSTs an urlencoded body: a record (arrays repeat the key) or a raw string. */
  post(path: string, form: Record<string, string | readonly string[]> | string): Promise<Page>
  /** The `_csrf` value of the page at `path` (GETs it). */
  csrf(path: string): Promise<string>
  /** Value of a cookie in the jar. */
  cookie(name: string): string | undefined
  /** Sets a cookie by hand (replaying an old session id). */
  setCookie(name: string, value: string): void
}

export function formClient(baseUrl: string): FormClient {
  const jar = new Map<string, string>()
  const header = (): Record<string, string> => (jar.size === 0 ? {} : { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') })
  const remember = (res: Response): void => {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';')
      const eq = pair?.indexOf('=') ?? -1
      if (pair === undefined || eq < 1) continue
      const expired = /expires=Thu, 01 Jan 1970/i.test(line) || /max-age=0/i.test(line)
      if (expired) jar.delete(pair.slice(0, eq))
      else jar.set(pair.slice(0, eq), pair.slice(eq + 1))
    }
  }
  const page = async (res: Response): Promise<Page> => {
    remember(res)
    return { status: res.status, location: res.headers.get('location'), text: await res.text() }
  }
  const client: FormClient = {
    get: async (path) => page(await fetch(baseUrl + path, { headers: header(), redirect: 'manual' })),
    async post(path, form) {
      const body = typeof form === 'string'
        ? form
        : new URLSearchParams(Object.entries(form).flatMap(([k, v]): [string, string][] => (typeof v === 'string' ? [[k, v]] : v.map((x): [string, string] => [k, x])))).toString()
      return page(await fetch(baseUrl + path, {
        method: 'POST',
        headers: { ...header(), 'content-type': 'application/x-www-form-urlencoded' },
        body,
        redirect: 'manual',
      }))
    },
    async csrf(path) {
      const p = await client.get(path)
      const m = /name="_csrf" value="([^"]+)"/.exec(p.text)
      if (!m?.[1]) throw new Error(`no CSRF field on ${path} (HTTP ${p.status}, Location ${p.location})`)
      return m[1]
    },
    cookie: (name) => jar.get(name),
    setCookie: (name, value) => void jar.set(name, value),
  }
  return client
}
