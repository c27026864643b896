//! `http-mixed`: what a busy night looks like. On long-running shows (`--streams`, with their
//! audience), reads of the stream and its state, joins and leaves of the connection's own
//! viewers and metadata PATCHes; beside them short shows each connection creates and stops.
//!
//! Each connection owns its identities, its metadata key (`c<conn>`) and its short shows, so it
//! knows what the service acknowledged for them; at the end every stream must hold exactly that
//! (an operation that got no answer may or may not have happened, and is allowed either way).

use std::collections::HashMap;
use std::sync::Arc;

use hyper::Method;
use serde_json::{json, Value};

use super::{setup_workers, Session};
use orchestrator_client::StreamStatus;

use crate::api::{self, State, StreamDoc};
use crate::cli::Plan;
use crate::httpc::{Failure, Reply, Req};
use crate::load::{self, LoadConfig, Workload};
use crate::report::{Correctness, Report};
use crate::servers::Launcher;

/// Viewers each connection moves in and out.
const IDENTITIES_PER_CONNECTION: usize = 64;

/// Out of 100 operations: the realistic weight of each.
const MIX: [(Op, u32); 7] = [
    (Op::Get, 35),
    (Op::State, 20),
    (Op::Join, 15),
    (Op::Leave, 10),
    (Op::Patch, 10),
    (Op::Create, 5),
    (Op::Stop, 5),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    State,
    Join,
    Leave,
    Patch,
    Create,
    Stop,
}

/// What is known of something after a sequence of operations on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Known {
    /// The state the last acknowledged operation left.
    acknowledged: bool,
    /// An operation since then got no answer: it may have flipped the state.
    uncertain: bool,
}

impl Known {
    fn apply(&mut self, target: bool, outcome: &Result<Reply, Failure>) {
        match outcome {
            Ok(reply) if reply.is_success() => {
                *self = Known {
                    acknowledged: target,
                    uncertain: false,
                }
            }
            Ok(reply) if reply.status < 500 => {}
            _ => self.uncertain = true,
        }
    }
}

/// The values a connection's metadata key may hold on one stream.
#[derive(Debug, Clone, Default)]
struct PatchTrack {
    acknowledged: Option<u64>,
    unanswered: Vec<u64>,
}

#[derive(Debug)]
struct Mixed {
    conn: usize,
    shows: Arc<Vec<String>>,
    rng: u64,
    presence: Vec<Known>,
    patches: HashMap<usize, PatchTrack>,
    patch_value: u64,
    own: Vec<String>,
    stopped: Vec<(String, Known)>,
    unanswered_creates: u64,
    pending: Option<Pending>,
}

#[derive(Debug, Clone)]
enum Pending {
    Read,
    Presence(usize, bool),
    Patch(usize, u64),
    Create,
    Stop(String),
}

impl Mixed {
    fn new(conn: usize, shows: Arc<Vec<String>>) -> Self {
        Self {
            conn,
            shows,
            rng: 0x9E37_79B9_7F4A_7C15 ^ (conn as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            presence: vec![Known::default(); IDENTITIES_PER_CONNECTION],
            patches: HashMap::new(),
            patch_value: 0,
            own: Vec::new(),
            stopped: Vec::new(),
            unanswered_creates: 0,
            pending: None,
        }
    }

    /// xorshift64*: reproducible, no dependency.
    fn random(&mut self, below: u64) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % below.max(1)
    }

    fn pick_op(&mut self) -> Op {
        let mut roll = self.random(100) as u32;
        for (op, weight) in MIX {
            if roll < weight {
                return op;
            }
            roll -= weight;
        }
        Op::Get
    }

    fn identity(&self, index: usize) -> String {
        format!("c{}-v{index}", self.conn)
    }

    /// The show a viewer of this connection watches.
    fn show_of(&self, index: usize) -> usize {
        (self.conn * IDENTITIES_PER_CONNECTION + index) % self.shows.len()
    }

    fn present(&self, wanted: bool) -> Vec<usize> {
        (0..self.presence.len())
            .filter(|i| self.presence[*i].acknowledged == wanted && !self.presence[*i].uncertain)
            .collect()
    }

    fn any_stream(&mut self) -> String {
        let own = self.own.len() as u64;
        let pick = self.random(self.shows.len() as u64 + own) as usize;
        match pick.checked_sub(self.shows.len()) {
            Some(i) => self.own[i].clone(),
            None => self.shows[pick].clone(),
        }
    }

    fn request(&mut self, op: Op) -> (Req, Pending) {
        match op {
            Op::Get => (
                Req::get(api::stream_path(&self.any_stream())),
                Pending::Read,
            ),
            Op::State => {
                let path = format!("{}/state", api::stream_path(&self.any_stream()));
                (Req::get(path), Pending::Read)
            }
            Op::Join | Op::Leave => {
                let joining = op == Op::Join;
                let candidates = self.present(!joining);
                let candidates = if candidates.is_empty() {
                    // Nobody to leave (or everyone in): the other move is always possible.
                    return self.request(if joining { Op::Leave } else { Op::Join });
                } else {
                    candidates
                };
                let index = candidates[self.random(candidates.len() as u64) as usize];
                let (show, identity) = (self.show_of(index), self.identity(index));
                let req = if joining {
                    api::join_req(&self.shows[show], &identity)
                } else {
                    api::leave_req(&self.shows[show], &identity)
                };
                (req, Pending::Presence(index, joining))
            }
            Op::Patch => {
                let show = self.random(self.shows.len() as u64) as usize;
                self.patch_value += 1;
                let metadata = json!({ format!("c{}", self.conn): self.patch_value });
                let req = api::patch_req(&self.shows[show], metadata);
                (req, Pending::Patch(show, self.patch_value))
            }
            Op::Create => (api::create_req(), Pending::Create),
            Op::Stop => match self.own.pop() {
                Some(id) => {
                    let req = Req {
                        method: Method::DELETE,
                        path: api::stream_path(&id),
                        body: None,
                    };
                    (req, Pending::Stop(id))
                }
                None => self.request(Op::Create),
            },
        }
    }
}

impl Workload for Mixed {
    fn next(&mut self) -> Req {
        let op = self.pick_op();
        let (req, pending) = self.request(op);
        self.pending = Some(pending);
        req
    }

    fn done(&mut self, _req: &Req, outcome: &Result<Reply, Failure>) {
        let acknowledged = matches!(outcome, Ok(reply) if reply.is_success());
        match self.pending.take() {
            None | Some(Pending::Read) => {}
            Some(Pending::Presence(index, joining)) => self.presence[index].apply(joining, outcome),
            Some(Pending::Patch(show, value)) => {
                let track = self.patches.entry(show).or_default();
                if acknowledged {
                    *track = PatchTrack {
                        acknowledged: Some(value),
                        unanswered: Vec::new(),
                    };
                } else if !matches!(outcome, Ok(reply) if reply.status < 500) {
                    track.unanswered.push(value);
                }
            }
            Some(Pending::Create) => match outcome {
                Ok(reply) if reply.is_success() => {
                    match serde_json::from_slice::<StreamDoc>(&reply.body) {
                        Ok(doc) => self.own.push(doc.id),
                        Err(_) => self.unanswered_creates += 1,
                    }
                }
                Ok(reply) if reply.status < 500 => {}
                _ => self.unanswered_creates += 1,
            },
            Some(Pending::Stop(id)) => {
                let mut known = Known {
                    acknowledged: false,
                    uncertain: false,
                };
                known.apply(true, outcome);
                match outcome {
                    Ok(reply) if !reply.is_success() && reply.status < 500 => self.own.push(id),
                    _ => self.stopped.push((id, known)),
                }
            }
        }
    }
}

/// `http-mixed`.
///
/// # Errors
/// Deployment or set-up failures.
pub async fn run(plan: &Plan, launcher: &Launcher) -> anyhow::Result<Report> {
    let mut session = Session::open(plan, launcher, 1).await?;
    let endpoint = session.deployment.first().http.clone();
    let workers = setup_workers(plan);
    let shows = Arc::new(api::create_streams(&endpoint, plan.streams as u64, workers).await?);
    let prefill = api::prefill(&endpoint, &shows, plan.audience, workers).await?;
    let workloads = (0..plan.connections)
        .map(|conn| Mixed::new(conn, Arc::clone(&shows)))
        .collect();
    session.start_clock();
    let config = LoadConfig {
        endpoint: endpoint.clone(),
        duration: plan.duration,
        timeout: plan.timeout,
        label: plan.scenario.name().to_owned(),
    };
    let result = load::run(&config, workloads).await;
    let mut report = session.load_report(&result);
    report.prefill = prefill;
    let show_states = api::states(&endpoint, &shows, workers).await?;
    let own: Vec<String> = result
        .workloads
        .iter()
        .flat_map(|w| w.own.clone())
        .collect();
    let stopped: Vec<(String, Known)> = result
        .workloads
        .iter()
        .flat_map(|w| w.stopped.clone())
        .collect();
    let stopped_ids: Vec<String> = stopped.iter().map(|(id, _)| id.clone()).collect();
    let own_states = api::states(&endpoint, &own, workers).await?;
    let stopped_states = api::states(&endpoint, &stopped_ids, workers).await?;
    let mut correctness = check_shows(&result.workloads, &show_states, plan.audience);
    check_short_shows(&mut correctness, &own_states, &stopped, &stopped_states);
    report.correctness = correctness;
    session.deployment.shutdown().await;
    Ok(report)
}

fn check_shows(workloads: &[Mixed], states: &[State], audience: u64) -> Correctness {
    let mut correctness = Correctness::default();
    for (show, state) in states.iter().enumerate() {
        let (mut low, mut unknown) = (audience, 0u64);
        for workload in workloads {
            for (index, known) in workload.presence.iter().enumerate() {
                if workload.show_of(index) != show {
                    continue;
                }
                if known.uncertain {
                    unknown += 1;
                } else if known.acknowledged {
                    low += 1;
                }
            }
            check_metadata(&mut correctness, workload, show, state);
        }
        correctness.expect(
            (low..=low + unknown).contains(&state.active_participants),
            "long shows: activeParticipants = audience + acknowledged joins − leaves",
            || {
                format!(
                    "show {show}: {} present, expected {low}..={}",
                    state.active_participants,
                    low + unknown
                )
            },
        );
        correctness.expect(
            state.status == StreamStatus::Active,
            "long shows stay active",
            || format!("show {show} is {}", state.status),
        );
    }
    correctness
}

fn check_metadata(correctness: &mut Correctness, workload: &Mixed, show: usize, state: &State) {
    let key = format!("c{}", workload.conn);
    let held = state.metadata.get(&key).and_then(Value::as_u64);
    let track = workload.patches.get(&show).cloned().unwrap_or_default();
    let ok = held == track.acknowledged || held.is_some_and(|v| track.unanswered.contains(&v));
    correctness.expect(
        ok,
        "long shows: metadata = last acknowledged PATCH of each writer",
        || {
            format!(
                "show {show} key {key}: holds {held:?}, last acknowledged {:?}",
                track.acknowledged
            )
        },
    );
}

fn check_short_shows(
    correctness: &mut Correctness,
    own_states: &[State],
    stopped: &[(String, Known)],
    stopped_states: &[State],
) {
    for state in own_states {
        correctness.expect(
            state.status == StreamStatus::Active,
            "short shows created and not stopped are active",
            || format!("a created show is {}", state.status),
        );
    }
    for ((id, known), state) in stopped.iter().zip(stopped_states) {
        let ok = known.uncertain
            || (state.status == StreamStatus::Stopped && state.active_participants == 0);
        correctness.expect(
            ok,
            "short shows stopped (2xx) are stopped and empty",
            || {
                format!(
                    "{id} is {} with {} present",
                    state.status, state.active_participants
                )
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn reply(status: u16) -> Result<Reply, Failure> {
        Ok(Reply {
            status,
            body: Bytes::new(),
        })
    }

    #[test]
    fn an_acknowledged_move_is_certain_an_unanswered_one_is_not() {
        let mut known = Known::default();

        known.apply(true, &reply(200));
        assert_eq!(
            known,
            Known {
                acknowledged: true,
                uncertain: false
            }
        );

        known.apply(false, &reply(409));
        assert_eq!(
            known,
            Known {
                acknowledged: true,
                uncertain: false
            },
            "4xx changes nothing"
        );

        known.apply(false, &Err(Failure::Timeout));
        assert!(known.uncertain);

        known.apply(false, &reply(200));
        assert_eq!(
            known,
            Known {
                acknowledged: false,
                uncertain: false
            }
        );
    }

    #[test]
    fn the_mix_adds_up_to_one_hundred() {
        assert_eq!(MIX.iter().map(|(_, w)| w).sum::<u32>(), 100);
    }

    #[test]
    fn a_connection_only_leaves_viewers_it_knows_are_present() {
        let shows = Arc::new(vec!["s1".to_owned(), "s2".to_owned()]);
        let mut mixed = Mixed::new(3, shows);

        for _ in 0..500 {
            let req = mixed.next();
            if req.path.ends_with("/leave") {
                panic!("left before anyone joined: {}", req.path);
            }
            if req.path.ends_with("/join") {
                mixed.done(&req, &reply(200));
                break;
            }
            mixed.done(&req, &reply(200));
        }

        assert_eq!(mixed.present(true).len(), 1);
    }

    #[test]
    fn patches_remember_the_last_acknowledged_value() {
        let shows = Arc::new(vec!["s1".to_owned()]);
        let mut mixed = Mixed::new(0, shows);
        let mut values = Vec::new();
        while values.len() < 3 {
            let req = mixed.next();
            if req.method == Method::PATCH {
                let outcome = if values.len() == 2 {
                    Err(Failure::Timeout)
                } else {
                    reply(200)
                };
                mixed.done(&req, &outcome);
                values.push(mixed.patch_value);
            } else {
                mixed.done(&req, &reply(200));
            }
        }

        let track = &mixed.patches[&0];
        assert_eq!(track.acknowledged, Some(values[1]));
        assert_eq!(track.unanswered, vec![values[2]]);
    }
}
