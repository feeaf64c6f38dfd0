/**
 * The policy engine (§4.6): filters the policies of a scope by action, activity, time, user, realm
 * and client, then narrows the survivors by precision — user first, then realm, then client. At
 * each stage only the candidates with the best precision stay (exact > pattern > `*`); every
 * candidate matches every stage, so a stage never empties the set (LinOTP's "a stage with no
 * intersection keeps the previous set" is therefore implicit).
 */
import { ConfigError, OtpError, invalidOption } from '../errors.js'
import { silentLogger, type Logger } from '../logger.js'
import { splitProviderList } from './actions.js'
import { toClientAddress } from './clients.js'
import { compilePolicy, type CompiledPolicy } from './parse.js'
import type { ActionValue, MatchedPolicy, OtpPinMode, PolicyQuery, PolicyRecord, PolicyScope } from './types.js'

/**
 * A query for the authentication-scope helpers (`smsProviders`, `otppin`): `scope` may be left out;
 * when given it must be 'authentication' (anything else is a programmer mistake: a coded TypeError).
 */
export type AuthenticationQuery = Omit<PolicyQuery, 'scope'> & { scope?: PolicyScope }

function authentication(q: AuthenticationQuery): PolicyQuery {
  if (q.scope !== undefined && q.scope !== 'authentication') {
    throw invalidOption('query.scope', `must be 'authentication' here, got '${q.scope}'`)
  }
  return { ...q, scope: 'authentication' }
}

interface Candidate {
  policy: CompiledPolicy
  user: number
  realm: number
  client: number
}

function narrow(candidates: Candidate[], stage: 'user' | 'realm' | 'client'): Candidate[] {
  const best = Math.max(0, ...candidates.map((c) => c[stage]))
  return candidates.filter((c) => c[stage] === best)
}

export class PolicyEngine {
  readonly #policies: readonly CompiledPolicy[]
  readonly #logger: Logger
  /**
   * True when an active policy has a user condition on the directory entry (`resolver:`,
   * `name.resolver:`, `#attr…`): only then must callers look the user up and pass
   * {@link PolicyQuery.directory}. Without it such conditions do not match (and exclude nobody).
   *
   * @example
   * const directory = engine.needsDirectory ? await lookUp(login, realm) : undefined
   * engine.smsProviders({ user: login, realm, client, directory })
   */
  readonly needsDirectory: boolean

  /** Compiles every policy; throws ConfigError (ERR_OTP_POLICY) on the first bad one. */
  constructor(policies: readonly PolicyRecord[], options?: { logger?: Logger }) {
    const seen = new Set<string>()
    this.#policies = policies.map((p) => {
      const compiled = compilePolicy(p)
      if (seen.has(compiled.record.name)) {
        throw new ConfigError(`policy '${compiled.record.name}': name: defined twice`, 'ERR_OTP_POLICY')
      }
      seen.add(compiled.record.name)
      return compiled
    })
    this.#logger = options?.logger ?? silentLogger
    this.needsDirectory = this.#policies.some((p) => p.record.active && p.user.needsDirectory)
  }

  /** The normalised records, in configuration order. */
  get records(): readonly PolicyRecord[] {
    return this.#policies.map((p) => ({ ...p.record }))
  }

  /** Policies of `q.scope` that contain `action` (or `*`), filtered and narrowed, in config order. */
  match(q: PolicyQuery, action: string): MatchedPolicy[] {
    const now = q.now ?? new Date()
    const subject = {
      login: q.user === undefined || q.user === '' ? undefined : q.user,
      realm: q.realm === undefined || q.realm === '' ? undefined : q.realm.toLowerCase(),
      directory: q.directory,
    }
    const client = toClientAddress(q.client)
    let candidates: Candidate[] = []
    for (const policy of this.#policies) {
      if (policy.scope !== q.scope || !policy.record.active) continue
      if (!policy.allActions && !policy.actions.has(action)) continue
      const user = policy.user(subject)
      if (user === 0) continue
      const realm = policy.realm(subject.realm)
      if (realm === 0) continue
      const clientMatch = policy.client(client)
      if (clientMatch === 0 || !policy.time(now)) continue
      candidates.push({ policy, user, realm, client: clientMatch })
    }
    candidates = narrow(narrow(narrow(candidates, 'user'), 'realm'), 'client')
    return candidates.map(({ policy: p }) => ({
      name: p.record.name,
      record: p.record,
      actions: p.actions,
      allActions: p.allActions,
    }))
  }

  /** The effective value of `action`; on conflicting values the first policy wins (and a warning is logged). */
  value(q: PolicyQuery, action: string): { value: ActionValue; policy: string } | undefined {
    const found = this.#values(q, action)
    const first = found[0]
    if (first === undefined) return undefined
    const conflicting = found.filter((f) => f.value !== first.value)
    if (conflicting.length > 0) {
      // Values (texts, provider names) stay out of the log: policy names are enough to find them.
      this.#logger.warn(
        { action, chosen: first.policy, ignored: conflicting.map((f) => f.policy) },
        'conflicting policy values: the first policy in configuration order wins',
      )
    }
    return first
  }

  #values(q: PolicyQuery, action: string): { value: ActionValue; policy: string }[] {
    const out: { value: ActionValue; policy: string }[] = []
    for (const m of this.match(q, action)) {
      const value = m.actions.get(action)
      if (value !== undefined) out.push({ value, policy: m.name })
    }
    return out
  }

  /**
   * §4.5: the ordered provider names, or undefined when no policy gives `sms_provider` (the caller
   * then uses the default provider). A matching `action=*` policy names no provider, so it alone
   * also yields undefined.
   */
  smsProviders(q: AuthenticationQuery): string[] | undefined {
    const v = this.value(authentication(q), 'sms_provider')
    return typeof v?.value === 'string' ? splitProviderList(v.value) : undefined
  }

  /** §1.5: the PIN mode; several different modes for one request are an error. */
  otppin(q: AuthenticationQuery): OtpPinMode {
    const modes = new Set(this.#values(authentication(q), 'otppin').map((f) => f.value))
    if (modes.size > 1) throw new OtpError('ERR_OTP_POLICY', 'multiple pin policies found')
    const [mode] = modes
    // parseActions stores otppin already normalised to its name.
    return typeof mode === 'string' ? (mode as OtpPinMode) : 'token_pin'
  }

  /** A boolean action; false when no policy gives it. */
  bool(q: PolicyQuery, action: string): boolean {
    return this.value(q, action)?.value === true
  }

  /** A string action; undefined when no policy gives it. */
  string(q: PolicyQuery, action: string): string | undefined {
    const v = this.value(q, action)?.value
    return typeof v === 'string' ? v : undefined
  }

  /**
   * Decision 8: names of the authentication policies whose `sms_provider` list contains `name`
   * (list membership, not the whole value). Inactive policies count: they may be re-activated.
   */
  policiesUsingProvider(name: string): string[] {
    return this.#policies
      .filter((p) => {
        const v = p.actions.get('sms_provider')
        return p.scope === 'authentication' && typeof v === 'string' && splitProviderList(v).includes(name)
      })
      .map((p) => p.record.name)
  }
}
