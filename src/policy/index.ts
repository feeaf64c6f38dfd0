/** The LinOTP policy model: parse, match (user/realm/client/time), decide. */
export { PolicyEngine, type AuthenticationQuery } from './engine.js'
export { parsePolicy } from './parse.js'
export { splitProviderList } from './actions.js'
export { MAX_ATTRIBUTE_REGEX, MAX_ATTRIBUTE_VALUE, MAX_REGEX_BRANCHES, MAX_REGEX_QUANTIFIERS } from './regex.js'
export {
  ACTIONS,
  OTPPIN_MODES,
  type ActionType,
  type ActionValue,
  type MatchedPolicy,
  type OtpPinMode,
  type PolicyDirectoryUser,
  type PolicyQuery,
  type PolicyRecord,
  type PolicyScope,
} from './types.js'
