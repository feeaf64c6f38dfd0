/**
 * What each SMS text of a config costs: every `smstext` policy and the default text, rendered the
 * way the engine renders them (`chooseTemplate` + `renderText`) with the longest values they can
 * hold, measured with the GSM 03.38 code the providers use. A text over one SMS part still sends,
 * but costs more and may arrive split: `config check` warns.
 */
import { gsmSeptets, smsParts } from '../providers/gsm.js'
import { parseActions } from '../policy/actions.js'
import type { SidecarConfig } from '../sidecar/config-file.js'
import { CONFIG_KEYS } from '../settings/config.js'
import { chooseTemplate, renderText } from '../tokens/text.js'

/** The cost of one SMS text. */
export interface SmsTextReport {
  /** `default` or `policies.<name>`. */
  readonly source: string
  /** JSON path of the text in the config file (for the line). */
  readonly path: Array<string | number>
  /** The template as sent (`<otp>` prepended when it was missing). */
  readonly template: string
  readonly encoding: 'GSM 03.38' | 'UCS-2'
  /** Septets (GSM, extension characters count two) or UTF-16 code units (UCS-2). */
  readonly length: number
  readonly parts: number
}

/** Serial of an enrolled token without a given serial: `LSSM` + 8 hex digits. */
const GENERATED_SERIAL = 'LSSM00000000'

/** Renders and measures every SMS text `config` can send. */
export function lintSmsTexts(config: SidecarConfig): SmsTextReport[] {
  const keys = config.config
  const defaultLen = Number(keys.DefaultOtpLen ?? CONFIG_KEYS.DefaultOtpLen.def)
  const otplen = defaultLen === 8 || config.tokens.some((t) => t.otplen === 8) ? 8 : 6
  const idLength = Number(keys.TransactionIdLength ?? CONFIG_KEYS.TransactionIdLength.def)
  const txLength = (Number.isInteger(idLength) ? idLength : CONFIG_KEYS.TransactionIdLength.def) + 3
  const serial = [GENERATED_SERIAL, ...config.tokens.map((t) => t.serial)].reduce((a, b) => (b.length > a.length ? b : a))
  const values = { otp: '9'.repeat(otplen), serial, transactionId: '9'.repeat(txLength) }
  const measure = (source: string, path: Array<string | number>, policyText: string | undefined): SmsTextReport => {
    const { template } = chooseTemplate({ policyText, enforce: true })
    const text = renderText(template, values)
    const septets = gsmSeptets(text)
    return { source, path, template, encoding: septets === undefined ? 'UCS-2' : 'GSM 03.38', length: septets?.length ?? text.length, parts: smsParts(text) }
  }
  const out = [measure('default', ['config'], undefined)]
  config.policies.forEach((p, i) => {
    if (p.scope !== 'authentication' || typeof p.action !== 'string' || typeof p.name !== 'string') return
    let text: unknown
    try {
      text = parseActions(p.name, 'authentication', p.action).values.get('smstext')
    } catch {
      return // reported by the policy check
    }
    if (typeof text === 'string') out.push(measure(`policies.${p.name}`, ['policies', i, 'action'], text))
  })
  return out
}
