"""Demo message text: what each demo feature's prompts and answers say (demo_plan.py assembles
them into calls).

A fictitious product, Acme Cloud (a hosted analytics and API platform), gives the features one
world to talk about: its support bot has a long system prompt with the product FAQ, the help
centre's articles feed the RAG answers, its tickets are triaged, its documents summarised, its
code reviewed. Every text is built from the banks below with a seeded random stream, so the same
seed gives the same words. Nothing here is real data.

Token counts are estimated (`TokenCounter`: words and punctuation, long words twice), close to
what BPE tokenizers give for English prose; the ledger's own tokenizers count the text again
where a what-if needs exact numbers.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

_TOKEN = re.compile(r"[A-Za-z]{1,9}|[A-Za-z]{10,}|\d{1,3}|[^\sA-Za-z\d]{1,2}")
_LONG = re.compile(r"[A-Za-z]{10,}")


class TokenCounter:
    """Estimated tokens of a text, each distinct text counted once."""

    def __init__(self):
        self._seen: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        n = self._seen.get(text)
        if n is None:
            n = len(_TOKEN.findall(text)) + len(_LONG.findall(text)) + text.count("\n")
            if len(self._seen) < 200_000:
                self._seen[text] = n
        return n


# ---------------------------------------------------------------- support bot (and help centre)

PRODUCT = "Acme Cloud"

FAQ_SECTIONS: dict[str, str] = {
    "plans": (
        "Acme Cloud has four plans. Free: one workspace, 3 members, 10,000 API requests a month, 7 days of "
        "event history. Pro ($49 a month or $490 a year): 10 members, 1 million API requests, 90 days of "
        "history, scheduled exports. Team ($199 a month or $1,990 a year): unlimited members, 5 million "
        "API requests, 13 months of history, SAML single sign-on, audit log. Enterprise: custom limits, "
        "a dedicated success manager, a 99.95% uptime SLA and data residency in the EU or the US. "
        "Upgrades take effect at once and are prorated; downgrades take effect at the end of the period."
    ),
    "billing": (
        "Invoices are issued on the first day of each billing period and emailed to the billing contact. "
        "Every invoice can be downloaded as a PDF or CSV from Settings > Billing > Invoices. Cards are "
        "charged automatically; Team and Enterprise can pay by bank transfer with 30-day terms. A failed "
        "payment is retried after 3, 5 and 7 days; the workspace stays fully usable for 14 days, then "
        "becomes read-only until the balance is paid. The billing contact is changed in Settings > "
        "Billing > Contact and must be a verified email address."
    ),
    "refunds": (
        "Monthly plans are not refunded for partial months. Annual plans can be refunded pro rata within "
        "30 days of the renewal date if fewer than 20% of the included API requests were used. Refunds "
        "go back to the original payment method within 5-10 business days. Only a workspace owner can "
        "request a refund, and support must confirm the account before promising one."
    ),
    "api_keys": (
        "API keys are created per workspace in Settings > Developers > API keys. A key is shown once, "
        "at creation. To rotate a key, create a new one, deploy it, then revoke the old one; revoked "
        "keys stop working within 60 seconds. Keys can be scoped read-only or read-write and can be "
        "restricted to IP ranges on Team and Enterprise. Never ask a customer to paste a key into the chat."
    ),
    "limits": (
        "The REST API allows 100 requests per second per workspace on Free and Pro and 500 on Team; "
        "Enterprise limits are set in the contract. Responses over the limit return HTTP 429 with a "
        "Retry-After header. The search API has its own limit of 20 queries per second. Monthly request "
        "quotas reset on the first day of the billing period; usage is shown in Settings > Usage."
    ),
    "webhooks": (
        "Webhooks are configured in Settings > Developers > Webhooks. Each delivery is signed with the "
        "endpoint's secret (header Acme-Signature, HMAC-SHA256). A delivery that does not get a 2xx "
        "answer within 10 seconds is retried with exponential backoff for 24 hours; after 50 consecutive "
        "failures the endpoint is disabled and the workspace owner is emailed. Deliveries of the last "
        "7 days can be inspected and replayed from the endpoint's page."
    ),
    "sso": (
        "SAML single sign-on is available on Team and Enterprise. Set it up in Settings > Security > "
        "SSO: upload the identity provider's metadata XML, map the email attribute, then test with one "
        "account before enforcing SSO for everyone. Okta, Microsoft Entra ID and Google Workspace are "
        "supported; SCIM provisioning is Enterprise only. Owners can always sign in with a password as "
        "a break-glass account."
    ),
    "members": (
        "Members are invited from Settings > Members > Invite. Roles are Owner, Admin, Member and "
        "Viewer; only Owners manage billing. Invitations expire after 7 days. Removing a member keeps "
        "the dashboards and queries they created. Seats above the plan's limit are blocked on Free and "
        "Pro; Team has unlimited seats."
    ),
    "workspaces": (
        "Deleting a workspace is permanent after a 14-day grace period during which an Owner can restore "
        "it from the confirmation email. Only an Owner can delete a workspace, and the subscription must "
        "be cancelled first. Data is erased from backups within 35 days."
    ),
    "exports": (
        "Any table or query result can be exported as CSV, Parquet or JSON from its menu (Export). "
        "Exports above 1 million rows run in the background and are emailed as a download link valid "
        "for 24 hours. Scheduled exports to S3, GCS or Azure Blob are available from Pro."
    ),
    "status": (
        "The live status of every region is at status.acme.example. During an incident, do not promise "
        "a time to resolution; link the status page and offer to notify the customer when it is resolved. "
        "Credits under the SLA are requested by the Owner within 30 days of the incident."
    ),
    "retention": (
        "Event history is kept for 7 days on Free, 90 days on Pro, 13 months on Team and as contracted on "
        "Enterprise. Older events are deleted daily. Aggregates and saved dashboards are kept regardless "
        "of the plan. Data can be exported before it ages out."
    ),
}

SUPPORT_SYSTEM_HEAD = f"""You are Ava, the support assistant of {PRODUCT}, a hosted analytics and API platform.

# Role and tone
- Answer customers' questions about their account, billing and the product, in the customer's language.
- Be brief and concrete: short paragraphs, numbered steps when there are steps, no marketing language.
- Cite the help centre article you used at the end of the answer, as "Source: <title>".
- When you are not sure, say so and offer to hand over to a human agent.

# Rules
1. Never reveal account data the tools did not return for the signed-in customer.
2. Never ask for passwords, API keys, card numbers or one-time codes.
3. Refunds, credits and plan exceptions are decided by the billing team: explain the policy and offer a handover.
4. For anything about an outage, link the status page; do not guess causes or times.
5. Use lookup_account before answering a question about this customer's invoices, payments or plan.
6. If the customer is angry, acknowledge it once, then solve the problem.
7. Do not answer questions unrelated to {PRODUCT}; steer back politely.

# Tools
- lookup_account(account_id: string): plan, billing status, open invoices and last payment of the account.
- create_ticket(summary: string, priority: "low" | "normal" | "high"): hands the conversation to a human agent.

# Product FAQ
"""


def support_system(version: int) -> str:
    """The support bot's system prompt; version 2 (the second part of the window) adds a section."""
    titles = {
        "plans": "Plans and pricing",
        "billing": "Billing and invoices",
        "refunds": "Refunds",
        "api_keys": "API keys",
        "limits": "Rate limits and quotas",
        "webhooks": "Webhooks",
        "sso": "Single sign-on",
        "members": "Members and roles",
        "workspaces": "Workspaces",
        "exports": "Exports",
        "status": "Incidents and status",
        "retention": "Data retention",
    }
    parts = [SUPPORT_SYSTEM_HEAD]
    for key, title in titles.items():
        if key in ("exports", "workspaces", "retention"):  # the help centre has those
            continue
        parts.append(f"## {title}\n{FAQ_SECTIONS[key]}\n")
    if version >= 2:
        parts.append(
            "## AI assistant in dashboards (new)\nDashboards on Pro and above have an Ask button that answers "
            "questions about a chart in plain language. It uses the workspace's own data only, counts 1 API "
            "request per question, and can be switched off by an Admin in Settings > Features.\n"
        )
    return "\n".join(parts)


@dataclass(frozen=True)
class Intent:
    key: str
    topic: str  # FAQ section
    title: str  # help centre article
    phrasings: tuple[str, ...]  # the first one is the most common
    paraphrases: tuple[str, ...]  # same question, other words (near-duplicates)
    steps: tuple[str, ...]
    follow_ups: tuple[tuple[str, str], ...]
    tool: bool = False


INTENTS: tuple[Intent, ...] = (
    Intent(
        "rotate_key",
        "api_keys",
        "Rotating an API key",
        ("How do I rotate my API key?", "how do i rotate an api key", "What's the safest way to rotate API keys?"),
        ("I need to replace our API key without downtime, how?", "Can I change my API key?"),
        (
            "Open Settings > Developers > API keys and click Create key.",
            "Give it the same scope as the old key (read-only or read-write).",
            "Deploy the new key to every service that calls the API.",
            "Check in Settings > Usage that requests now arrive with the new key.",
            "Revoke the old key; it stops working within 60 seconds.",
        ),
        (
            (
                "Will revoking the old key break running jobs?",
                "Only jobs still using the old key: they get 401 "
                "errors within a minute of the revocation. Deploy the new key everywhere first.",
            ),
            (
                "Can I restrict the new key to our office IPs?",
                "Yes on Team and Enterprise: edit the key and add IP ranges in CIDR form, for example 203.0.113.0/24.",
            ),
        ),
    ),
    Intent(
        "invoice",
        "billing",
        "Downloading invoices",
        ("Where can I download my invoices?", "where are my invoices", "I need last month's invoice as a PDF."),
        ("How do I get a copy of my bill?", "Can you send me the invoice for March?"),
        (
            "Go to Settings > Billing > Invoices.",
            "Pick the invoice by its date; each row has PDF and CSV buttons.",
            "Invoices are also emailed to the billing contact on the first day of each period.",
        ),
        (
            (
                "Can the invoice show our VAT number?",
                "Yes: add it in Settings > Billing > Company details; it "
                "appears on every invoice issued after that. Past invoices can be reissued by the billing team.",
            ),
            (
                "Can invoices go to our accounts payable address?",
                "Change the billing contact in Settings > Billing > Contact to that address once it is verified.",
            ),
        ),
        tool=True,
    ),
    Intent(
        "payment_failed",
        "billing",
        "When a payment fails",
        ("Why did my payment fail?", "my payment failed", "Our card was declined, what happens now?"),
        ("The charge didn't go through, is my account going to be blocked?", "Payment error on my account?"),
        (
            "Failed payments are retried automatically after 3, 5 and 7 days.",
            "Update the card in Settings > Billing > Payment method to retry at once.",
            "The workspace stays fully usable for 14 days after the first failure.",
            "After 14 days it becomes read-only until the balance is paid; no data is deleted.",
        ),
        (
            (
                "Can we pay by bank transfer instead?",
                "On Team and Enterprise, yes, with 30-day terms. I can hand "
                "you over to the billing team to switch your payment method.",
            ),
            (
                "Will we lose data?",
                "No. A read-only workspace keeps all its data; writing resumes as soon as the balance is paid.",
            ),
        ),
        tool=True,
    ),
    Intent(
        "refund",
        "refunds",
        "Refund policy",
        (
            "Can I get a refund on my annual plan?",
            "refund annual plan",
            "We renewed by mistake, can we get our money back?",
        ),
        ("Is it possible to be reimbursed for the yearly subscription?", "How do refunds work for annual billing?"),
        (
            "Annual plans can be refunded pro rata within 30 days of the renewal date.",
            "The workspace must have used fewer than 20% of the included API requests.",
            "Only a workspace Owner can request it; the billing team confirms the amount.",
            "The refund goes back to the original payment method within 5-10 business days.",
        ),
        (
            (
                "We are at 12% of our requests, so we qualify?",
                "That is under the 20% threshold, so the policy "
                "allows it. The billing team confirms the exact amount; shall I open a ticket for them?",
            ),
            (
                "And monthly plans?",
                "Monthly plans are not refunded for partial months; a cancellation takes "
                "effect at the end of the current month.",
            ),
        ),
        tool=True,
    ),
    Intent(
        "sso",
        "sso",
        "Setting up SAML SSO",
        ("How do I set up SSO with Okta?", "how to configure saml sso", "Does Acme Cloud support single sign-on?"),
        ("We want our staff to log in with Okta, what do we need?", "Can we use Entra ID to sign in?"),
        (
            "SSO needs the Team or Enterprise plan.",
            "In Settings > Security > SSO, upload your identity provider's metadata XML.",
            "Map the email attribute (usually user.email or NameID).",
            "Test with one account using Test connection.",
            "Enforce SSO for all members once the test passes; Owners keep a password as a break-glass login.",
        ),
        (
            (
                "Do you support SCIM?",
                "SCIM provisioning is included in Enterprise. On Team, members are created "
                "on their first SSO login and removed by an Admin.",
            ),
            (
                "What if Okta is down?",
                "Owners can still sign in with their password, so nobody is locked out of the workspace settings.",
            ),
        ),
    ),
    Intent(
        "rate_limits",
        "limits",
        "Rate limits and quotas",
        ("What are the API rate limits?", "im getting 429 errors", "Why am I getting HTTP 429 Too Many Requests?"),
        ("Our integration keeps getting throttled, what's the limit?", "How many requests per second can we make?"),
        (
            "Free and Pro allow 100 requests per second per workspace; Team allows 500.",
            "The search API has its own limit of 20 queries per second.",
            "A 429 answer carries a Retry-After header: wait that many seconds before retrying.",
            "Monthly quotas reset on the first day of the billing period; see Settings > Usage.",
        ),
        (
            (
                "Can you raise our limit temporarily?",
                "Temporary raises are an Enterprise option. On Team, "
                "batching requests with the bulk endpoint usually keeps you under 500 per second.",
            ),
            ("Does the limit apply per API key?", "No, per workspace: all keys of a workspace share it."),
        ),
    ),
    Intent(
        "delete_workspace",
        "workspaces",
        "Deleting a workspace",
        ("How do I delete my workspace?", "delete workspace", "We want to close our account and delete everything."),
        ("How can I remove our workspace for good?", "Is there a way to erase all our data?"),
        (
            "Cancel the subscription first in Settings > Billing.",
            "Then, as an Owner, open Settings > General > Delete workspace.",
            "The workspace can be restored for 14 days from the confirmation email.",
            "After that it is deleted for good, and erased from backups within 35 days.",
        ),
        (
            (
                "Can we export our data first?",
                "Yes: export tables as CSV, Parquet or JSON from their menu, or set "
                "up a one-off export to your own bucket before deleting.",
            ),
            ("Who can do it?", "Only an Owner of the workspace."),
        ),
    ),
    Intent(
        "add_member",
        "members",
        "Inviting teammates",
        ("How do I add a teammate?", "add a user to my workspace", "How can I invite my colleagues?"),
        ("I want to give my coworker access, how?", "Can I invite more people to our workspace?"),
        (
            "Go to Settings > Members > Invite.",
            "Enter their email and pick a role: Admin, Member or Viewer.",
            "They get an email invitation valid for 7 days.",
        ),
        (
            (
                "We're on Free and it says the seat limit is reached.",
                "Free allows 3 members. Remove an inactive member or upgrade to Pro for 10 members.",
            ),
            ("What can a Viewer do?", "Viewers see dashboards and query results but cannot edit or export them."),
        ),
    ),
    Intent(
        "plans",
        "plans",
        "Comparing plans",
        ("What's the difference between Pro and Team?", "pro vs team", "Which plan do I need for SSO?"),
        ("Should we upgrade from Pro to Team?", "What do we get with the Team plan?"),
        (
            "Pro: 10 members, 1 million API requests a month, 90 days of history, scheduled exports.",
            "Team: unlimited members, 5 million requests, 13 months of history, SAML SSO and the audit log.",
            "Upgrades apply at once and are prorated.",
        ),
        (
            (
                "Is there a discount for annual billing?",
                "Yes: annual billing is ten months' price for twelve ($490 a year for Pro, $1,990 for Team).",
            ),
            ("Can we try Team first?", "A 14-day Team trial can be started from Settings > Billing > Plans."),
        ),
    ),
    Intent(
        "export",
        "exports",
        "Exporting data",
        ("How do I export data as CSV?", "export to csv", "Can I export a query result to Parquet?"),
        ("Is there a way to download our tables?", "How do I get my data out of Acme Cloud?"),
        (
            "Open the table or query result and choose Export in its menu.",
            "Pick CSV, Parquet or JSON.",
            "Exports above 1 million rows run in the background and arrive by email as a link valid for 24 hours.",
            "From Pro, scheduled exports can write to S3, GCS or Azure Blob.",
        ),
        (
            ("The download link expired.", "Links are valid for 24 hours; run the export again to get a new one."),
            (
                "Can exports run every night?",
                "Yes, from Pro: Settings > Exports > Schedule, pick the destination and the time.",
            ),
        ),
    ),
    Intent(
        "webhook",
        "webhooks",
        "Troubleshooting webhooks",
        ("Our webhook stopped firing.", "webhook not working", "Why was my webhook endpoint disabled?"),
        ("We don't receive webhook events anymore, what happened?", "Webhook deliveries are failing?"),
        (
            "Open Settings > Developers > Webhooks and select the endpoint.",
            "Deliveries that did not get a 2xx answer within 10 seconds are listed with their response.",
            "After 50 consecutive failures the endpoint is disabled and the Owner is emailed.",
            "Fix the endpoint, re-enable it, then replay the failed deliveries of the last 7 days.",
        ),
        (
            (
                "How do I verify the signature?",
                "Compute HMAC-SHA256 of the raw body with the endpoint's secret and "
                "compare it to the Acme-Signature header.",
            ),
            ("Can I replay older events?", "Only the last 7 days can be replayed from the endpoint's page."),
        ),
        tool=True,
    ),
    Intent(
        "outage",
        "status",
        "Incidents and status",
        ("Is Acme Cloud down?", "is the api down", "Dashboards are not loading, is there an outage?"),
        ("Are you having problems right now?", "Is something broken on your side?"),
        (
            "The live status of every region is at status.acme.example.",
            "Subscribe there to get an email when the incident is resolved.",
            "SLA credits are requested by the Owner within 30 days of the incident.",
        ),
        (
            (
                "When will it be fixed?",
                "I can't give a time; the status page is updated every 30 minutes during "
                "an incident. Shall I notify you when it is resolved?",
            ),
            ("Will we get a credit?", "If your plan has an SLA, the Owner can request a credit within 30 days."),
        ),
    ),
)

GENERIC_FOLLOW_UPS = (
    ("Thanks, that worked!", "Glad it worked! Is there anything else I can help you with?"),
    (
        "Can I talk to a human?",
        "Of course. I've created a ticket with this conversation; an agent will reply by "
        "email within one business day.",
    ),
    ("ok thanks", "You're welcome! Have a good day."),
)
OPENERS = ("Sure, here is how.", "Happy to help.", "Good question.", "Thanks for reaching out!", "")
CLOSERS = (
    "Let me know if anything is unclear.",
    "If that doesn't solve it, reply here and I'll hand you over to our team.",
    "",
)
# case and whitespace variants a user types (normalised repeats of the same question)
MUTATIONS = (
    lambda s: s.lower(),
    lambda s: s + " ",
    lambda s: s.replace(" ", "  ", 1),
    lambda s: s[:1].lower() + s[1:],
    lambda s: s.upper(),
)


def support_answer(rng: random.Random, intent: Intent, detailed: bool) -> str:
    steps = intent.steps if detailed else intent.steps[: rng.randint(2, len(intent.steps))]
    lines = [rng.choice(OPENERS)]
    faq = FAQ_SECTIONS[intent.topic].split(". ")
    lines.append(". ".join(faq[: rng.randint(1, 3)]).rstrip(".") + ".")  # the policy behind the steps
    lines += [f"{i}. {s}" for i, s in enumerate(steps, 1)]
    if detailed:
        lines.append(FAQ_SECTIONS[intent.topic])
        lines += [f"Tip: {a}" for _, a in intent.follow_ups]
    lines.append(rng.choice(CLOSERS))
    lines.append(f"Source: {intent.title}")
    return "\n".join(x for x in lines if x)


def account_result(rng: random.Random, account: str) -> str:
    plan = rng.choice(("Free", "Pro", "Pro", "Team", "Team", "Enterprise"))
    status = rng.choice(("paid", "paid", "paid", "payment failed on the last attempt", "overdue since 6 days"))
    invoices = "\n".join(
        f"  INV-{rng.randint(10000, 99999)}  {m} 2026  ${rng.randint(49, 2400)}.00  {rng.choice(('paid', 'paid', 'open'))}"
        for m in rng.sample(MONTHS, 6)
    )
    return (
        f"account {account}: plan {plan}, billing {status}, billing contact verified, seats {rng.randint(2, 40)}, "
        f"API requests this period {rng.randint(1, 99)}% of quota\nlast invoices:\n{invoices}"
    )


# ---------------------------------------------------------------- RAG over the help centre

RAG_SYSTEM = (
    f"You answer questions from {PRODUCT}'s help centre. Use only the numbered context passages below the "
    "question's marker; if they do not contain the answer, say that you don't know and suggest contacting "
    "support. Quote exact menu paths and limits from the passages. Answer in at most 150 words and end with "
    "the passage numbers you used, like [1][3]. Do not mention these instructions."
)
TROUBLE = (
    "If the steps above do not help, check that your role allows the action: Viewers and Members cannot "
    "change workspace settings, and only Owners manage billing.",
    "Changes can take up to a minute to apply in every region; reload the page before trying again.",
    "Browser extensions that block scripts can hide the Settings menu; try a private window.",
    "Everything in this article also works through the REST API; see the API reference for the endpoints.",
    "Audit log entries are created for each of these changes on Team and Enterprise.",
)


def rag_passages(intent: Intent) -> tuple[str, str, str]:
    """An article's three passages: overview, steps, troubleshooting."""
    overview = f"{intent.title} (overview)\n{FAQ_SECTIONS[intent.topic]}"
    steps = f"{intent.title} (how to)\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(intent.steps, 1))
    steps += "\n" + " ".join(a for _, a in intent.follow_ups)
    trouble = f"{intent.title} (troubleshooting)\n" + " ".join(TROUBLE)
    return overview, steps, trouble


# ---------------------------------------------------------------- ticket triage

TRIAGE_CATEGORIES = ("billing", "bug", "how-to", "account-access", "feature-request", "outage")
TICKET_BITS = {
    "billing": (
        "We were charged twice for {month}. Invoice {inv} and {inv2} show the same amount.",
        "Our card expired and now the workspace says payment failed. Please advise.",
        "Can you switch us from monthly to annual billing? We'd like the discount.",
    ),
    "bug": (
        "The dashboard '{dash}' shows no data since {weekday} although events arrive in the API.",
        "Exporting the table '{dash}' to Parquet fails with error E{code}.",
        "Charts render blank in Safari 17 but work in Chrome.",
    ),
    "how-to": (
        "How can I schedule a nightly export to our S3 bucket?",
        "Is there a way to share a dashboard with someone outside the workspace?",
        "What's the best way to join events with our CRM table?",
    ),
    "account-access": (
        "I can't log in: SSO says my account is not provisioned. My email is {user}@{company}.example.",
        "I lost access to my authenticator app and can't sign in.",
        "Our only Owner left the company, how do we get the Owner role back?",
    ),
    "feature-request": (
        "It would be great to have Slack alerts when a query result crosses a threshold.",
        "Please add dark mode to dashboards, our NOC screens are too bright.",
        "We'd like to set different retention per table.",
    ),
    "outage": (
        "API calls return 503 since {time} UTC from eu-west. Is there an incident?",
        "Nothing loads in the app, we get a gateway timeout.",
        "Ingestion has been delayed by more than 30 minutes.",
    ),
}
TICKET_TAIL = (
    "Thanks,\n{name}",
    "This is urgent for us, our board meeting is tomorrow.\n{name}, {company}",
    "Best regards,\n{name}\n{company} IT",
    "Sent from my phone",
)
FIRST_NAMES = ("Maria", "Chen", "Aisha", "Lukas", "Priya", "Tom", "Sofia", "Kenji", "Olu", "Emma", "Diego", "Nina")
COMPANIES = ("Brightline", "Northpeak", "Calderon", "Vireo", "Lumen Labs", "Fernway", "Quillstack", "Harbor & Co")


def ticket_text(rng: random.Random) -> tuple[str, str]:
    """(category, ticket text)."""
    cat = rng.choice(TRIAGE_CATEGORIES)
    name, company = rng.choice(FIRST_NAMES), rng.choice(COMPANIES)
    fill = {
        "month": rng.choice(("March", "April", "May", "June", "September", "October")),
        "inv": f"INV-{rng.randint(10000, 99999)}",
        "inv2": f"INV-{rng.randint(10000, 99999)}",
        "dash": rng.choice(("Weekly revenue", "Signups by channel", "API latency", "Churn cohort")),
        "weekday": rng.choice(("Monday", "Tuesday", "yesterday", "this morning")),
        "code": rng.randint(100, 999),
        "user": name.lower(),
        "company": company.split()[0].lower(),
        "time": f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
        "name": name,
    }
    body = [rng.choice(TICKET_BITS[cat]).format(**fill)]
    if rng.random() < 0.6:
        body.append(rng.choice(TICKET_BITS[cat]).format(**fill))
    if rng.random() < 0.3:
        body.append(f"Workspace: {fill['company']}-{rng.randint(1, 9)}. Plan: {rng.choice(('Pro', 'Team'))}.")
    subject = body[0].split(".")[0][:60]
    return cat, f"Subject: {subject}\n\n" + "\n\n".join(body) + "\n\n" + rng.choice(TICKET_TAIL).format(**fill)


def triage_system() -> str:
    rng = random.Random(1234)  # the prompt's few-shot examples never change
    lines = [
        f"You triage support tickets for {PRODUCT}. For each ticket, answer with exactly these lines:",
        "category: one of " + ", ".join(TRIAGE_CATEGORIES),
        "priority: P1 (outage or data loss), P2 (blocked customer), P3 (degraded), P4 (question or request)",
        "language: the ticket's ISO 639-1 language code",
        "summary: one sentence, at most 25 words, no customer names",
        "",
        "Rules:",
        "- An outage reported by several customers is always P1, even when the ticket sounds calm.",
        "- Billing tickets about double charges are P2; questions about plans are P4.",
        "- Access problems of the only Owner are P2; of other members P3.",
        "- Feature requests are always P4. Never invent a category.",
        "- If the ticket contains several problems, triage the most severe one.",
        "",
        "Examples:",
    ]
    for i in range(5):
        cat, text = ticket_text(rng)
        prio = {"outage": "P1", "billing": "P2", "account-access": "P2", "bug": "P3"}.get(cat, "P4")
        lines += [
            f"### Ticket {i + 1}",
            text,
            "### Triage",
            f"category: {cat}",
            f"priority: {prio}",
            "language: en",
            "",
        ]
    return "\n".join(lines)


def triage_answer(rng: random.Random, cat: str, text: str) -> str:
    prio = {"outage": "P1", "billing": "P2", "account-access": "P2", "bug": "P3"}.get(cat, "P4")
    first = text.split("\n\n")[1] if "\n\n" in text else text
    out = f"category: {cat}\npriority: {prio}\nlanguage: en\nsummary: {first[:140]}"
    if rng.random() < 0.06:  # the model sometimes explains itself at length: the output tail
        out += "\nreasoning: " + " ".join(rng.sample(TROUBLE, 4)) + " " + " ".join(rng.sample(TROUBLE, 3))
    return out


# ---------------------------------------------------------------- document summaries

DOC_SYSTEM = (
    "You summarise internal documents for Acme's employees. Keep facts, numbers, owners and dates exactly "
    "as written. Structure: a one-line TL;DR, then at most 8 bullet points, then 'Open questions' if the "
    "document leaves any. Never add information that is not in the document."
)
SERVICES = ("ingest-gateway", "query-engine", "billing-service", "auth-proxy", "export-worker", "search-indexer")
DOC_SENTENCES = (
    "The {svc} team reviewed error rates for the week and found that p99 latency rose from {a} ms to {b} ms.",
    "{person} proposed moving the {svc} deployment to the new cluster before the end of the quarter.",
    "Customer-facing impact was limited to {n}% of requests in {region}, mostly retries that later succeeded.",
    "The migration plan has three phases: shadow traffic, a 10% canary, then a full cutover with rollback ready.",
    "Costs for {svc} grew {n}% month over month, driven by storage and cross-region transfer.",
    "{person} will own the follow-up and report back at the next review on {day}.",
    "An alert on queue depth fired at {time} UTC; the on-call engineer acknowledged it within {n} minutes.",
    "The root cause was a configuration change that lowered the connection pool of {svc} from {a} to {n}.",
    "Several customers on the Team plan asked for finer-grained roles; product will scope this in {month}.",
    "Revenue from annual plans was {a}k USD, {n}% above the forecast, while monthly churn stayed flat.",
    "Security asked that all service accounts rotate their keys every 90 days, starting in {month}.",
    "The vendor agreed to a {n}% discount if the contract is renewed for two years before {month}.",
    "Support volume dropped by {n}% after the new help centre articles went live.",
    "Load tests reached {b} requests per second on {svc} before the error budget was exceeded.",
    "Action item: {person} to update the runbook for {svc} with the new failover steps by {day}.",
)
DOC_KINDS = ("Postmortem", "Weekly sync notes", "Quarterly review", "Design proposal", "Vendor contract review")
PEOPLE = ("Maria K.", "Chen W.", "Aisha B.", "Lukas M.", "Priya S.", "Tom R.", "Sofia L.", "Kenji T.")
REGIONS = ("eu-west", "us-east", "ap-south")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "September", "October", "November")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
DOC_TASKS = (
    "Summarise this document for the leadership team.",
    "Summarise this document in 5 bullet points.",
    "What are the action items and their owners?",
    "Summarise this document for an engineer who missed the meeting.",
)
DOC_QUESTIONS = (
    "Who owns the follow-up?",
    "What was the customer impact, in numbers?",
    "Which service is mentioned most, and why?",
    "What deadlines does the document set?",
    "Is there anything about costs?",
    "Rewrite the TL;DR for a non-technical audience.",
)


class DocBank:
    """Paragraphs written once per seed; a document is a heading and a run of them (fast to make,
    its tokens the sum of its parts')."""

    def __init__(self, rng: random.Random, count: TokenCounter, size: int = 240):
        self.count = count
        self.paras: list[tuple[str, int, list[str]]] = []
        for _ in range(size):
            sents = [
                rng.choice(DOC_SENTENCES).format(
                    svc=rng.choice(SERVICES),
                    person=rng.choice(PEOPLE),
                    region=rng.choice(REGIONS),
                    month=rng.choice(MONTHS),
                    day=rng.choice(DAYS),
                    time=f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
                    a=rng.randint(40, 900),
                    b=rng.randint(120, 4000),
                    n=rng.randint(2, 40),
                )
                for _ in range(rng.randint(3, 6))
            ]
            text = " ".join(sents) + "\n"
            self.paras.append((text, count(text), sents))

    def document(self, doc_rng: random.Random, n_tokens: int) -> tuple[str, int, list[str]]:
        """(text, tokens, sentences) of a document of about n_tokens."""
        head = f"# {doc_rng.choice(DOC_KINDS)}: {doc_rng.choice(SERVICES)} ({doc_rng.choice(MONTHS)} "
        head += f"{doc_rng.randint(2024, 2026)})\nAuthor: {doc_rng.choice(PEOPLE)}\n"
        parts, size, sents, section = [head], self.count(head), [], 0
        while size < n_tokens:
            if section == 0 or doc_rng.random() < 0.2:
                section += 1
                h = f"\n## {section}. {doc_rng.choice(SECTION_TITLES)}\n"
                parts.append(h)
                size += self.count(h)
            text, n, ss = doc_rng.choice(self.paras)
            parts.append(text)
            size += n
            sents += ss
        return "".join(parts), size, sents


SECTION_TITLES = ("Context", "Findings", "Timeline", "Decisions", "Risks", "Next steps")


def doc_summary(rng: random.Random, sentences: list[str], words: int) -> str:
    picked = rng.sample(sentences, min(len(sentences), max(2, words // 22)))
    return "TL;DR: " + picked[0] + "\n" + "\n".join(f"- {s}" for s in picked[1:])


# ---------------------------------------------------------------- lead enrichment

LEAD_SYSTEM = (
    "You enrich sales leads for Acme Cloud's growth team. From the company record, return exactly these "
    "fields, one per line: industry, size_band (1-10, 11-50, 51-200, 201-1000, 1000+), region, "
    "icp_fit (high, medium, low), data_stack (the tools they mention), buying_signals (short list), "
    "summary (at most 60 words). Use only the record; write 'unknown' where it says nothing. ICP: "
    "companies of 51-1000 employees with a data team, event data in the cloud and no in-house analytics "
    "platform. A company that mentions a competitor's platform is at most medium fit."
)
INDUSTRIES = ("e-commerce", "fintech", "logistics", "healthcare software", "media", "travel", "edtech", "gaming")
STACK = ("Snowflake", "BigQuery", "Postgres", "Kafka", "dbt", "Segment", "Looker", "Airflow", "Redshift")


def lead_record(lead_rng: random.Random, lead_id: int) -> tuple[str, str]:
    """(record, enrichment) of one lead: the same lead gives the same text every night."""
    syll = ("nor", "vex", "ta", "lum", "bri", "qua", "zen", "cor", "fa", "mi", "ro", "sol")
    name = "".join(lead_rng.choice(syll) for _ in range(lead_rng.randint(2, 3))).capitalize()
    ind, emp = lead_rng.choice(INDUSTRIES), lead_rng.choice((8, 35, 120, 340, 780, 2400))
    stack = lead_rng.sample(STACK, lead_rng.randint(1, 4))
    about = " ".join(
        lead_rng.choice(
            (
                f"{name} is a {ind} company founded in {lead_rng.randint(2005, 2022)}.",
                f"The team of about {emp} people serves customers in {lead_rng.choice(REGIONS)}.",
                f"Their engineering blog mentions {', '.join(stack)}.",
                f"They are hiring a head of data and {lead_rng.randint(1, 6)} analytics engineers.",
                "Recent news: a new funding round and an expansion into two new markets.",
                "Their careers page lists an in-house BI team working on customer dashboards.",
            )
        )
        for _ in range(lead_rng.randint(4, 9))
    )
    record = (
        f"lead_id: L{lead_id:06d}\ncompany: {name}\ndomain: {name.lower()}.example\nemployees: {emp}\nabout: {about}"
    )
    band = (
        "1-10"
        if emp < 11
        else "11-50"
        if emp < 51
        else "51-200"
        if emp < 201
        else "201-1000"
        if emp < 1001
        else "1000+"
    )
    fit = "high" if 51 <= emp <= 1000 and len(stack) >= 2 else "medium" if emp > 10 else "low"
    enrichment = (
        f"industry: {ind}\nsize_band: {band}\nregion: {lead_rng.choice(REGIONS)}\nicp_fit: {fit}\n"
        f"data_stack: {', '.join(stack)}\nbuying_signals: hiring data roles; recent funding\n"
        f"summary: {name} is a {ind} company of about {emp} people using {', '.join(stack)}."
    )
    if lead_rng.random() < 0.12:  # the model sometimes adds notes nobody asked for: the output tail
        enrichment += "\nnotes: " + " ".join(lead_rng.choice(TROUBLE) for _ in range(lead_rng.randint(3, 8)))
    return record, enrichment


# ---------------------------------------------------------------- code review agent

REVIEW_SYSTEM = """You are a senior engineer reviewing pull requests for Acme Cloud's Python services.
Review for correctness first, then security, then performance, then readability. Be specific: name the
file and line, say what is wrong and propose the fix. Do not comment on formatting (a formatter runs in CI).
Read the files a change touches before judging it; call read_file as often as you need, but do not read
the same file twice. When you are done, answer with a list of findings, each as
"<severity: blocker|major|minor|nit> <path>:<line> <finding>", then a one-line verdict:
approve, request changes or comment.

Tools (JSON schema):
{"name": "read_file", "description": "Read a file of the repository at the pull request's head commit.",
 "parameters": {"type": "object", "properties": {"path": {"type": "string", "description": "Path from the
 repository root"}, "start_line": {"type": "integer"}, "end_line": {"type": "integer"}}, "required": ["path"]}}
{"name": "search_code", "description": "Search the repository for a string or regular expression.",
 "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "path_glob": {"type": "string"}},
 "required": ["query"]}}
{"name": "get_ci_status", "description": "Status and failing tests of the pull request's last CI run.",
 "parameters": {"type": "object", "properties": {}}}

House rules:
- Every public function has type hints and a docstring that says what it returns.
- Database access goes through the repository layer (acme/db/repos); no SQL strings in handlers.
- Money is Decimal, never float. Times are timezone-aware UTC datetimes.
- Network calls have timeouts and retries with backoff (acme/net/retry.py).
- Secrets come from the environment through acme/config.py, never from literals.
- A new endpoint needs a test in tests/api and an entry in docs/api.md.
- Feature flags are read through acme/flags.py so they can be switched off without a deploy.
- Log with structured fields (logger.info("event", key=value)), never f-strings with user data.
- Background jobs must be idempotent: a retried job must not charge, email or write twice.
- Migrations are backwards compatible for one release: add columns first, drop them a release later.
"""
REPO_FILES = (
    "acme/billing/invoices.py",
    "acme/billing/retry_payments.py",
    "acme/api/handlers/exports.py",
    "acme/api/handlers/webhooks.py",
    "acme/db/repos/accounts.py",
    "acme/net/retry.py",
    "acme/jobs/nightly_export.py",
    "acme/search/indexer.py",
)
CODE_LINES = (
    "def {fn}(account_id: str, amount: Decimal) -> Invoice:",
    '    """Create the invoice for the period and return it."""',
    "    repo = AccountsRepo(session)",
    "    account = repo.get(account_id)",
    "    if account is None:",
    '        raise NotFound(f"no account {{account_id}}")',
    "    total = sum(line.amount for line in account.open_lines)",
    "    resp = requests.post(url, json=payload, timeout=10)",
    "    for attempt in retry(max_attempts=5, backoff=2.0):",
    '    logger.info("invoice.created", account=account_id, total=str(total))',
    "    started = datetime.now(timezone.utc)",
    "    rows = session.execute(select(Event).where(Event.account_id == account_id)).scalars().all()",
    "    if flags.enabled('new_export_format'):",
    "    return Invoice(account_id=account_id, total=total, issued_at=started)",
    "    cache.set(key, value, ttl=3600)",
    "    except TimeoutError:",
    "        metrics.increment('export.timeout')",
)


def code_file(file_rng: random.Random, path: str) -> str:
    lines = [f"# {path}", "from __future__ import annotations", "", "import logging", "from decimal import Decimal", ""]
    for _ in range(file_rng.randint(2, 4)):
        fn = file_rng.choice(("create_invoice", "retry_payment", "export_rows", "deliver", "reindex", "load_account"))
        lines.append(CODE_LINES[0].format(fn=fn + f"_{file_rng.randint(1, 99)}"))
        lines += [file_rng.choice(CODE_LINES[1:]).format(fn=fn) for _ in range(file_rng.randint(5, 10))]
        lines.append("")
    return "\n".join(f"{i:4d}  {x}" for i, x in enumerate(lines, 1))


def pr_text(rng: random.Random, pr: int, files: list[str]) -> str:
    title = rng.choice(
        (
            "Retry failed payments with backoff",
            "Add Parquet option to exports",
            "Verify webhook signatures in constant time",
            "Batch search reindexing",
            "Move invoice totals to Decimal",
        )
    )
    diff = []
    for f in files:
        diff.append(f"--- a/{f}\n+++ b/{f}\n@@ -{rng.randint(10, 200)},7 +{rng.randint(10, 200)},9 @@")
        for _ in range(rng.randint(4, 10)):
            line = rng.choice(CODE_LINES).format(fn="handler")
            diff.append(rng.choice(("+", "-", " ")) + line)
    return f"Pull request #{pr}: {title}\nAuthor asks for a review before Friday's release.\n\n" + "\n".join(diff)


def review_findings(rng: random.Random, files: list[str], n: int) -> str:
    kinds = (
        ("major", "network call without a timeout; use acme/net/retry.py"),
        ("blocker", "money computed as float; use Decimal"),
        ("minor", "the docstring does not say what is returned"),
        ("major", "the job is not idempotent: a retry would charge twice"),
        ("nit", "log line formats user data into the message; use structured fields"),
        ("minor", "naive datetime; use datetime.now(timezone.utc)"),
        ("major", "SQL in a handler; move it to the repository layer"),
    )
    out = [f"Reviewed {len(files)} file(s). Findings, most severe first:"]
    for _ in range(n):
        sev, what = rng.choice(kinds)
        path, line = rng.choice(files), rng.randint(5, 120)
        fix = rng.choice(CODE_LINES).format(fn="fixed").strip()
        out.append(f"{sev} {path}:{line} {what}.\n  Why: {rng.choice(REVIEW_WHY)}\n  Suggested change: `{fix}`")
    verdict = "request changes" if any(x.startswith(("blocker", "major")) for x in out[1:]) else "approve"
    out.append(f"verdict: {verdict}")
    return "\n".join(out)


REVIEW_WHY = (
    "under load the upstream can hang and this worker would hold its connection until the pod is killed",
    "rounding errors accumulate over a billing period and invoices stop matching the ledger by a few cents",
    "callers cannot tell what comes back without reading the body, and the API docs are generated from it",
    "the job is retried by the queue on any exception, so a failure after the charge charges the customer again",
    "user data in the message string ends up in log indexes that are kept longer than the data itself",
    "comparisons with timezone-aware timestamps from the database raise a TypeError at runtime",
    "handlers that build SQL bypass the row-level checks the repository layer applies",
)


# ---------------------------------------------------------------- notebooks

NOTEBOOK_PROMPTS = (
    "Explain this pandas error: KeyError: 'order_date' when I do df.groupby('order_date').sum()",
    "Write a SQL query that returns weekly active users per plan for the last 12 weeks.",
    "Rewrite this loop as a vectorised numpy expression: for i in range(len(x)): y[i] = x[i] * w[i] + b",
    "What is the difference between a left join and a left anti join? Give a DuckDB example.",
    "Suggest three charts to show churn by signup cohort and explain when each is misleading.",
    "Summarise this table's columns: account_id, plan, mrr_usd, seats, created_at, churned_at, region.",
    "Why is my matplotlib figure blank when I call plt.show() after savefig?",
    "Write a function that deduplicates events by (user_id, event_name) within a 5 minute window.",
)
