export type { Account } from './accounts.ts';
export { newAccount } from './accounts.ts';
export type { AutoscalerMode } from './components/autoscaler.ts';
export { autoscalerEnv, NATIVE_AUTOSCALER_MAX, nativeAutoscalerPolicy } from './components/autoscaler.ts';
export type { EdgeLimits, NginxSpec } from './components/nginx.ts';
export {
  checkNginxConfig,
  DEFAULT_EDGE_LIMITS,
  ensureCertificate,
  gatewayServers,
  nginxFiles,
  reloadNginx,
  startNginx,
  writeGatewayServers,
  writeNginxConfig,
} from './components/nginx.ts';
export { pgbouncerDatabase, SESSION_LIMITS } from './components/pgbouncer.ts';
export type { ReplicaStatus } from './components/postgres.ts';
export { ADMIN_USER, APP_USER, queryOnce, replicaStatus, verifyReplication } from './components/postgres.ts';
export type { ServiceTarget } from './components/prometheus.ts';
export { writePrometheusConfig, writeTargets } from './components/prometheus.ts';
export { amqpUrl } from './components/rabbitmq.ts';
export { redisOnce } from './components/redis.ts';
export type { ServiceName } from './components/services.ts';
export {
  MAX_REPLICAS,
  mintDevToken,
  replicaPort,
  SERVICE_PORT_OFFSETS,
  upstreamsFile,
} from './components/services.ts';
export type { ComposeProject, ContainerStatus } from './compose.ts';
export {
  buildImages,
  compose,
  composeCommand,
  containerLogs,
  containerName,
  isReady,
  projectContainers,
  projectLeftovers,
  publishedPort,
  waitHealthy,
} from './compose.ts';
export { configProblems } from './config-problems.ts';
export { dockerEngineAnswers } from './containers.ts';
export type { StartContext } from './context.ts';
export { logFile } from './context.ts';
export type { StackEnvOptions } from './env.ts';
export { stackEnv } from './env.ts';
export { documentedErrors, errorTable } from './error-docs.ts';
export type { FaultProxy } from './fault-proxy.ts';
export { startFaultProxy } from './fault-proxy.ts';
export { guardStack } from './guard.ts';
export { httpsJson } from './https-json.ts';
export type { LeftoverProcess } from './leftovers.ts';
export { processesOfStacks } from './leftovers.ts';
export type { OtlpReceiver, ReceivedSpan } from './otlp-receiver.ts';
export { startOtlpReceiver } from './otlp-receiver.ts';
export { REPO_ROOT, repoPath } from './paths.ts';
export { freePorts, isPortFree, TEST_BASE_PORTS } from './ports.ts';
export type { ProcessIdentity, StopSpec } from './proc.ts';
export { childrenOf, groupMembers, isAlive, launch, run, stopProcess, waitFor } from './proc.ts';
export type { Replica, ScalableService, ScaleOptions, ScaleResult, ScaleTargets } from './scale.ts';
export {
  listReplicas,
  parseScaleArgs,
  SCALABLE_SERVICES,
  ScaleError,
  scaleService,
  scaleStack,
  upstreamsListed,
  validateTargets,
} from './scale.ts';
export type { ComponentStatus, StackOptions } from './stack.ts';
export {
  stackStatus,
  startExtraRabbitmq,
  startExtraRedis,
  startExtraReplica,
  startSideStack,
  startStack,
  stopStack,
} from './stack.ts';
export type { ComponentKind, ComponentRecord, Endpoints, StackState } from './state.ts';
export { readState } from './state.ts';
export { binary, ensurePackages, missingPackages, postgresBinDir, which } from './system.ts';
export { renderTemplate } from './template.ts';
export { TEST_STACK_PREFIX } from './vitest/resources.ts';
