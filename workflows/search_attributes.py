"""Search attribute keys of API.md, so operators can filter reminders in the Web UI."""

from temporalio.common import SearchAttributeKey

BUSINESS_ID = SearchAttributeKey.for_keyword("BusinessId")
REMINDER_TYPE = SearchAttributeKey.for_keyword("ReminderType")
REMINDER_STATE = SearchAttributeKey.for_keyword("ReminderState")
CLIENT_IDS = SearchAttributeKey.for_keyword_list("ClientIds")
NEXT_FIRE_TIME = SearchAttributeKey.for_datetime("NextFireTime")
