//! What the end-to-end tests (in `tests/`) share: the reliability scenario's harness and phases,
//! reading back what the lake holds, the service binaries as tests start them, the deployment
//! validators, the containers that compose and the chart run (and running them as processes,
//! behind an ingress-like proxy), and the metric names in PromQL.

pub mod containers;
pub mod deployed;
pub mod deployment;
pub mod ingress;
pub mod lake;
pub mod promql;
pub mod scenario;
pub mod services;
pub mod tools;
