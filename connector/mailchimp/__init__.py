"""The Mailchimp gateway: the only code in consent-sync that speaks HTTP to Mailchimp."""

from connector.mailchimp.connections import ConnectionCap
from connector.mailchimp.gateway import MailchimpGateway, api_base_url
from connector.mailchimp.payloads import (
    AudienceInfo,
    BatchOperation,
    BatchOperationResult,
    BatchStatus,
    BatchSubscribeReport,
    BulkSegmentReport,
    ListContact,
    MemberOutcome,
    MemberRecord,
    MemberStatus,
    MemberWrite,
    MergeField,
    RejectionKind,
    Segment,
    SegmentCondition,
    SegmentType,
    Webhook,
    WebhookEvent,
    WebhookSource,
)
from connector.mailchimp.stats import GatewayStats, StatsSnapshot

__all__ = [
    "AudienceInfo",
    "BatchOperation",
    "BatchOperationResult",
    "BatchStatus",
    "BatchSubscribeReport",
    "BulkSegmentReport",
    "ConnectionCap",
    "GatewayStats",
    "ListContact",
    "MailchimpGateway",
    "MemberOutcome",
    "MemberRecord",
    "MemberStatus",
    "MemberWrite",
    "MergeField",
    "RejectionKind",
    "Segment",
    "SegmentCondition",
    "SegmentType",
    "StatsSnapshot",
    "Webhook",
    "WebhookEvent",
    "WebhookSource",
    "api_base_url",
]
