//! Events in their stored form.

use super::*;

#[test]
fn events_round_trip_through_their_stored_form() {
    for event in with(history(), [failed(1, 1), policy_lock(1, 16), deleted()]) {
        let payload = event.to_payload().expect("serializes");
        assert!(
            payload.get("type").is_none(),
            "the type tag is stored beside the payload"
        );
        let back = UserEvent::from_payload(event.event_type(), payload).expect("parses");
        assert_eq!(back, event);
    }
}

#[test]
fn personal_fields_point_at_real_payload_fields() {
    let profile_updated = UserEvent::ProfileUpdated {
        first_name: None,
        last_name: None,
        profile: Profile::default(),
        at: at(1),
    };
    let verified_by_hand = UserEvent::EmailVerified {
        email: email("ann@example.com").into(),
        by_hand: Some(Reason::parse("seen at the desk").expect("reason")),
        at: at(2),
    };
    let phone_verified = UserEvent::PhoneVerified {
        phone: phone("+14155550100").into(),
        by_hand: None,
        at: at(2),
    };
    for event in [
        registered(),
        profile_updated,
        verified_by_hand,
        phone_verified,
    ] {
        let payload = event.to_payload().expect("serializes");
        for pointer in event.personal_fields() {
            assert!(
                payload.pointer(pointer).is_some(),
                "{pointer} is not in {}",
                event.event_type()
            );
        }
    }
}

#[test]
fn the_forgotten_event_type_constant_names_the_event() {
    use crate::DomainEvent;
    assert_eq!(
        UserEvent::UserForgotten { at: at(1) }.event_type(),
        USER_FORGOTTEN
    );
}

#[test]
fn every_event_type_is_the_name_its_events_are_stored_and_read_by() {
    crate::testing::assert_event_type_names::<UserEvent, _>(UserEventType::as_str);
}

#[test]
fn an_events_type_is_its_stored_event_type_and_serde_tag() {
    for event in with(history(), [failed(1, 1), policy_lock(1, 16), deleted()]) {
        let event_type = UserEventType::from(&event);
        assert_eq!(event_type.as_str(), event.event_type());
        assert_eq!(
            serde_json::to_value(&event).expect("serializes")["type"],
            event_type.as_str()
        );
    }
    assert_eq!(UserEventType::UserForgotten.as_str(), USER_FORGOTTEN);
}
