/** The sidecar: LinOTP's HTTP API over the engine and an embedded SQLite store. */
export { createSidecar, createMetricsApp, metricsHandler, type SidecarOptions } from './app.js'
export { serve, type ServeOptions, type RunningSidecar } from './serve.js'
export { readConfigFile, parseConfig, applyConfig, type SidecarConfig } from './config-file.js'
