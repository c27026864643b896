//! `proto/streams.proto` stays backward compatible with the original product's contract
//! (`tests/fixtures/original_streams.proto`): every message, field, enum value and method of the
//! original is still there with the same name, number, type (message and enum types by their
//! full names), cardinality and oneof. The checker's own tests break a copy of our descriptors
//! on purpose to show that it catches a field retyped, renumbered, renamed or removed.

use std::collections::BTreeMap;
use std::path::Path;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet,
    ServiceDescriptorProto,
};

const PACKAGE: &str = "livestream.orchestrator.v1";

fn compile(relative_to_tests: &str) -> FileDescriptorSet {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative_to_tests);
    let includes = path.parent().unwrap().to_owned();
    protox::compile([&path], [includes]).unwrap()
}

fn original() -> FileDescriptorSet {
    compile("fixtures/original_streams.proto")
}

fn ours() -> FileDescriptorSet {
    compile("../proto/streams.proto")
}

/// The definitions of a descriptor set by their full names (`.package.Message.Nested`).
#[derive(Default)]
struct Definitions<'a> {
    messages: BTreeMap<String, &'a DescriptorProto>,
    enums: BTreeMap<String, &'a EnumDescriptorProto>,
    services: BTreeMap<String, &'a ServiceDescriptorProto>,
}

impl<'a> Definitions<'a> {
    fn of(set: &'a FileDescriptorSet) -> Self {
        let mut definitions = Self::default();
        for file in &set.file {
            let scope = format!(".{}", file.package());
            for message in &file.message_type {
                definitions.add_message(&scope, message);
            }
            for enumeration in &file.enum_type {
                let name = format!("{scope}.{}", enumeration.name());
                definitions.enums.insert(name, enumeration);
            }
            for service in &file.service {
                let name = format!("{scope}.{}", service.name());
                definitions.services.insert(name, service);
            }
        }
        definitions
    }

    /// Nested messages include the entries of map fields, so their key and value types are
    /// compared too.
    fn add_message(&mut self, scope: &str, message: &'a DescriptorProto) {
        let name = format!("{scope}.{}", message.name());
        for nested in &message.nested_type {
            self.add_message(&name, nested);
        }
        for enumeration in &message.enum_type {
            let enum_name = format!("{name}.{}", enumeration.name());
            self.enums.insert(enum_name, enumeration);
        }
        self.messages.insert(name, message);
    }
}

/// Every way `ours` would break a client built from `original`, one line each; empty when
/// compatible.
fn incompatibilities(original: &FileDescriptorSet, ours: &FileDescriptorSet) -> Vec<String> {
    let (before, after) = (Definitions::of(original), Definitions::of(ours));
    let mut problems = Vec::new();
    for (name, message) in &before.messages {
        match after.messages.get(name) {
            Some(kept) => compare_fields(name, message, kept, &mut problems),
            None => problems.push(format!("message {name} was removed")),
        }
    }
    for (name, enumeration) in &before.enums {
        match after.enums.get(name) {
            Some(kept) => compare_values(name, enumeration, kept, &mut problems),
            None => problems.push(format!("enum {name} was removed")),
        }
    }
    for (name, service) in &before.services {
        match after.services.get(name) {
            Some(kept) => compare_methods(name, service, kept, &mut problems),
            None => problems.push(format!("service {name} was removed")),
        }
    }
    problems
}

/// What a field means on the wire and to JSON clients, facet by facet.
fn facets(message: &DescriptorProto, field: &FieldDescriptorProto) -> [(&'static str, String); 5] {
    let optional = if field.proto3_optional() {
        " (proto3 optional)"
    } else {
        ""
    };
    let oneof = field
        .oneof_index
        .and_then(|index| message.oneof_decl.get(usize::try_from(index).ok()?))
        .map_or("none".to_owned(), |oneof| oneof.name().to_owned());
    [
        ("name", field.name().to_owned()),
        ("JSON name", field.json_name().to_owned()),
        (
            "type",
            format!("{:?} {}", field.r#type(), field.type_name())
                .trim_end()
                .to_owned(),
        ),
        ("cardinality", format!("{:?}{optional}", field.label())),
        ("oneof", oneof),
    ]
}

fn compare_fields(
    name: &str,
    before: &DescriptorProto,
    after: &DescriptorProto,
    problems: &mut Vec<String>,
) {
    for field in &before.field {
        let number = field.number();
        let Some(kept) = after.field.iter().find(|f| f.number() == number) else {
            problems.push(format!("{name}.{} = {number} was removed", field.name()));
            continue;
        };
        for ((facet, was), (_, is)) in facets(before, field).into_iter().zip(facets(after, kept)) {
            if was != is {
                problems.push(format!(
                    "{name}.{} = {number}: {facet} `{was}` became `{is}`",
                    field.name()
                ));
            }
        }
    }
}

fn compare_values(
    name: &str,
    before: &EnumDescriptorProto,
    after: &EnumDescriptorProto,
    problems: &mut Vec<String>,
) {
    for value in &before.value {
        match after.value.iter().find(|v| v.number() == value.number()) {
            Some(kept) if kept.name() == value.name() => {}
            Some(kept) => problems.push(format!(
                "{name} value {} was renamed `{}`",
                value.number(),
                kept.name()
            )),
            None => problems.push(format!(
                "{name}.{} = {} was removed",
                value.name(),
                value.number()
            )),
        }
    }
}

fn compare_methods(
    name: &str,
    before: &ServiceDescriptorProto,
    after: &ServiceDescriptorProto,
    problems: &mut Vec<String>,
) {
    let shape = |m: &prost_types::MethodDescriptorProto| {
        format!(
            "({}{}) returns ({}{})",
            if m.client_streaming() { "stream " } else { "" },
            m.input_type(),
            if m.server_streaming() { "stream " } else { "" },
            m.output_type()
        )
    };
    for method in &before.method {
        match after.method.iter().find(|m| m.name() == method.name()) {
            Some(kept) if shape(kept) == shape(method) => {}
            Some(kept) => problems.push(format!(
                "{name}/{}: `{}` became `{}`",
                method.name(),
                shape(method),
                shape(kept)
            )),
            None => problems.push(format!("{name}/{} was removed", method.name())),
        }
    }
}

#[test]
fn our_proto_keeps_every_message_field_enum_value_and_method_of_the_original() {
    let problems = incompatibilities(&original(), &ours());

    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_fixture_is_the_original_contract_not_an_empty_file() {
    let original = original();
    let definitions = Definitions::of(&original);

    let fields: usize = definitions.messages.values().map(|m| m.field.len()).sum();
    let values: usize = definitions.enums.values().map(|e| e.value.len()).sum();
    // 8 messages and 3 map entries; 22 fields and 6 in the entries; 2 enums of 6 values; one
    // service.
    assert_eq!(
        (
            definitions.messages.len(),
            fields,
            values,
            definitions.services.len()
        ),
        (11, 28, 12, 1)
    );
}

// ---- The checker catches what it must ------------------------------------------------------

fn message_mut<'a>(set: &'a mut FileDescriptorSet, name: &str) -> &'a mut DescriptorProto {
    set.file
        .iter_mut()
        .filter(|file| file.package() == PACKAGE)
        .flat_map(|file| file.message_type.iter_mut())
        .find(|message| message.name() == name)
        .unwrap()
}

fn field_mut<'a>(
    set: &'a mut FileDescriptorSet,
    message: &str,
    field: &str,
) -> &'a mut FieldDescriptorProto {
    message_mut(set, message)
        .field
        .iter_mut()
        .find(|f| f.name() == field)
        .unwrap()
}

fn enum_mut<'a>(set: &'a mut FileDescriptorSet, name: &str) -> &'a mut EnumDescriptorProto {
    set.file
        .iter_mut()
        .filter(|file| file.package() == PACKAGE)
        .flat_map(|file| file.enum_type.iter_mut())
        .find(|enumeration| enumeration.name() == name)
        .unwrap()
}

/// What the checker says about our proto after `change`.
fn problems_after(change: impl FnOnce(&mut FileDescriptorSet)) -> Vec<String> {
    let mut broken = ours();
    change(&mut broken);
    incompatibilities(&original(), &broken)
}

#[test]
fn the_checker_catches_a_retyped_field() {
    let problems = problems_after(|set| {
        field_mut(set, "StreamEvent", "timestamp").set_type(Type::String);
    });

    assert_eq!(
        problems,
        [".livestream.orchestrator.v1.StreamEvent.timestamp = 3: type `Int64` became `String`"]
    );
}

#[test]
fn the_checker_catches_a_field_pointing_at_another_message() {
    let problems = problems_after(|set| {
        field_mut(set, "ParticipantJoinedData", "participant").type_name =
            Some(".livestream.orchestrator.v1.Audience".into());
    });

    assert_eq!(
        problems,
        [
            ".livestream.orchestrator.v1.ParticipantJoinedData.participant = 1: type `Message \
          .livestream.orchestrator.v1.Participant` became `Message \
          .livestream.orchestrator.v1.Audience`"
        ]
    );
}

#[test]
fn the_checker_catches_a_renumbered_field() {
    let problems = problems_after(|set| {
        field_mut(set, "Participant", "joined_at").number = Some(30);
    });

    assert_eq!(
        problems,
        [".livestream.orchestrator.v1.Participant.joined_at = 3 was removed"]
    );
}

#[test]
fn the_checker_catches_a_renamed_field() {
    let problems = problems_after(|set| {
        let field = field_mut(set, "StreamStoppedData", "room_name");
        field.name = Some("room".into());
        field.json_name = Some("room".into());
    });

    assert_eq!(
        problems,
        [
            ".livestream.orchestrator.v1.StreamStoppedData.room_name = 1: name `room_name` became `room`",
            ".livestream.orchestrator.v1.StreamStoppedData.room_name = 1: JSON name `roomName` became `room`",
        ]
    );
}

#[test]
fn the_checker_catches_a_removed_field_message_and_method() {
    let removed_field = problems_after(|set| {
        message_mut(set, "ParticipantLeftData").field.clear();
    });
    let removed_message = problems_after(|set| {
        let file = set
            .file
            .iter_mut()
            .find(|f| f.package() == PACKAGE)
            .unwrap();
        file.message_type
            .retain(|m| m.name() != "StreamStoppedData");
    });
    let removed_method = problems_after(|set| {
        let file = set
            .file
            .iter_mut()
            .find(|f| f.package() == PACKAGE)
            .unwrap();
        file.service[0].method.retain(|m| m.name() != "Subscribe");
    });

    assert_eq!(
        removed_field,
        [".livestream.orchestrator.v1.ParticipantLeftData.participant = 1 was removed"]
    );
    assert_eq!(
        removed_message,
        ["message .livestream.orchestrator.v1.StreamStoppedData was removed"]
    );
    assert_eq!(
        removed_method,
        [".livestream.orchestrator.v1.StreamService/Subscribe was removed"]
    );
}

#[test]
fn the_checker_catches_a_changed_cardinality_or_oneof() {
    let repeated = problems_after(|set| {
        field_mut(set, "StreamEvent", "stream_id").set_label(Label::Repeated);
    });
    let out_of_oneof = problems_after(|set| {
        field_mut(set, "StreamEvent", "stream_created").oneof_index = None;
    });

    assert_eq!(
        repeated,
        [".livestream.orchestrator.v1.StreamEvent.stream_id = 2: cardinality `Optional` became `Repeated`"]
    );
    assert_eq!(
        out_of_oneof,
        [".livestream.orchestrator.v1.StreamEvent.stream_created = 4: oneof `event_data` became `none`"]
    );
}

#[test]
fn the_checker_catches_a_map_whose_values_change_type() {
    let problems = problems_after(|set| {
        let entry = message_mut(set, "Participant")
            .nested_type
            .iter_mut()
            .find(|m| m.name() == "MetadataEntry")
            .unwrap();
        entry.field[1].set_type(Type::Bytes);
    });

    assert_eq!(
        problems,
        [".livestream.orchestrator.v1.Participant.MetadataEntry.value = 2: type `String` became `Bytes`"]
    );
}

#[test]
fn the_checker_catches_a_renamed_or_removed_enum_value() {
    // The very change that broke the original's JSON clients once.
    let renamed = problems_after(|set| {
        enum_mut(set, "StreamStatus").value[0].name = Some("STREAM_STATUS_UNSPECIFIED".into());
    });
    let removed = problems_after(|set| {
        enum_mut(set, "StreamEventType")
            .value
            .retain(|v| v.name() != "STREAM_EVENT_TYPE_PARTICIPANT_LEFT");
    });

    assert_eq!(
        renamed,
        [".livestream.orchestrator.v1.StreamStatus value 0 was renamed `STREAM_STATUS_UNSPECIFIED`"]
    );
    assert_eq!(
        removed,
        [".livestream.orchestrator.v1.StreamEventType.STREAM_EVENT_TYPE_PARTICIPANT_LEFT = 5 was removed"]
    );
}

#[test]
fn the_checker_catches_a_streaming_method_made_unary() {
    let problems = problems_after(|set| {
        let file = set
            .file
            .iter_mut()
            .find(|f| f.package() == PACKAGE)
            .unwrap();
        let subscribe = file.service[0]
            .method
            .iter_mut()
            .find(|m| m.name() == "Subscribe")
            .unwrap();
        subscribe.server_streaming = Some(false);
    });

    assert_eq!(
        problems,
        [".livestream.orchestrator.v1.StreamService/Subscribe: `(.livestream.orchestrator.v1.SubscribeRequest) returns (stream .livestream.orchestrator.v1.StreamEvent)` became `(.livestream.orchestrator.v1.SubscribeRequest) returns (.livestream.orchestrator.v1.StreamEvent)`"]
    );
}
