//! A request mix: several named HTTP requests, each run as its own group of connections with
//! its weight's share of the connections, the rate and the request budget, and its own stats
//! (`stampede run` with `[[request]]` tables). The groups may target different servers.

use std::rc::Rc;
use std::sync::Arc;

use crate::scenario::http::HttpScenario;
use crate::scenario::{Scenario, WorkerCtx};

pub struct MixScenario {
    members: Vec<(String, f64, Arc<HttpScenario>)>,
}

impl MixScenario {
    /// `(name, weight, scenario)` per request; at least one.
    pub fn new(members: Vec<(String, f64, HttpScenario)>) -> MixScenario {
        MixScenario { members: members.into_iter().map(|(n, w, s)| (n, w, Arc::new(s))).collect() }
    }
}

impl Scenario for MixScenario {
    fn name(&self) -> &'static str {
        "http"
    }

    fn target(&self) -> String {
        self.members.first().map_or(String::new(), |m| m.2.target())
    }

    fn weights(&self) -> Vec<f64> {
        self.members.iter().map(|m| m.1).collect()
    }

    fn group_names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.0.clone()).collect()
    }

    fn stages_by_send(&self) -> bool {
        true // every member is an `Exchange`
    }

    fn spawn_connection(self: &Arc<Self>, ctx: Rc<WorkerCtx>, slot: u64) {
        if let Some(m) = self.members.get(ctx.group) {
            m.2.spawn_connection(ctx, slot);
        }
    }
}
