/** RestSMSProvider: the provider class. Everything else in this folder is its private detail. */
export { RestSmsProviderClass } from './provider.js'
