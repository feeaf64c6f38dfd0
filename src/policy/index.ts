/** The LinOTP policy model: parse, match (user/realm/client/time), decide. */
export { PolicyEngine, type AuthenticationQuery } from './engine.js'
export { parsePolicy } from './parse.js'
export { splitProviderList } from './actions.js'
export {
  ACTIONS,
  OTPPIN_MODES,
  type ActionType,
  type ActionValue,
  type MatchedPolicy,
  type OtpPinMode,
  type PolicyQuery,
  type PolicyRecord,
  type PolicyScope,
} from './types.js'
