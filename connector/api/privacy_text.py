"""The privacy page's words in Norwegian bokmål and English, and the choice of language per request.

The policy's own explanation (the sentences of ``explain``) is shown as the policy words it, in English,
marked ``lang="en"`` on a Norwegian page; everything around it is translated here.
"""

LANGUAGES = ("nb", "en")
DEFAULT = "en"

TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Your data and your choices", "nb": "Dine data og dine valg"},
    "skip": {"en": "Skip to your choices", "nb": "Gå til valgene dine"},
    "switch": {"en": "Norsk (bokmål)", "nb": "English"},
    "intro": {
        "en": "This page shows everything we hold about you, what we may send you and why, and lets you "
        "change your choices. Nobody else can see it: the link in your e-mail is personal.",
        "nb": "Denne siden viser alt vi har lagret om deg, hva vi kan sende deg og hvorfor, og lar deg "
        "endre valgene dine. Ingen andre kan se den: lenken i e-posten din er personlig.",
    },
    "receive": {"en": "What you receive, and why", "nb": "Hva du får, og hvorfor"},
    "policy_words": {
        "en": "In the words of our policy:",
        "nb": "Slik forklarer retningslinjene våre det (på engelsk):",
    },
    "purpose": {"en": "Purpose", "nb": "Formål"},
    "channel": {"en": "Channel", "nb": "Kanal"},
    "status": {"en": "Status", "nb": "Status"},
    "until": {"en": "Until", "nb": "Til"},
    "allowed": {"en": "You receive this", "nb": "Du får dette"},
    "denied": {"en": "You do not receive this", "nb": "Du får ikke dette"},
    "awaiting": {
        "en": "Waiting for your confirmation (see your e-mail)",
        "nb": "Venter på bekreftelsen din (se e-posten din)",
    },
    "basis_consent": {"en": "because you said yes", "nb": "fordi du har sagt ja"},
    "basis_existing_customer": {
        "en": "because you are a customer (you may say no at any time)",
        "nb": "fordi du er kunde (du kan når som helst si nei)",
    },
    "basis_none": {"en": "", "nb": ""},
    "transactional": {"en": "Service messages", "nb": "Tjenestemeldinger"},
    "transactional_text": {
        "en": "Messages about what you bought or booked (changes, cancellations, receipts) are not "
        "marketing: saying no to marketing never stops them.",
        "nb": "Meldinger om det du har kjøpt eller bestilt (endringer, avlysninger, kvitteringer) er ikke "
        "markedsføring: å si nei til markedsføring stopper dem aldri.",
    },
    "route": {"en": "How they reach you today:", "nb": "Slik når de deg i dag:"},
    "choices": {"en": "Your choices", "nb": "Dine valg"},
    "stop_legend": {"en": "Stop receiving", "nb": "Slutt å motta"},
    "stop_help": {
        "en": "Tick what you no longer want, then press the button.",
        "nb": "Kryss av for det du ikke lenger vil ha, og trykk på knappen.",
    },
    "stop_button": {"en": "Stop the ticked ones", "nb": "Stopp de avkryssede"},
    "stop_all_button": {"en": "Withdraw every consent", "nb": "Trekk tilbake alle samtykker"},
    "object_button": {
        "en": "Object to all marketing (also as a customer)",
        "nb": "Reserver meg mot all markedsføring (også som kunde)",
    },
    "grant_legend": {"en": "Start receiving", "nb": "Begynn å motta"},
    "grant_help": {
        "en": "Tick what you would like to receive. Nothing is ticked for you.",
        "nb": "Kryss av for det du vil motta. Ingenting er krysset av på forhånd.",
    },
    "grant_help_doi": {
        "en": "We will e-mail you a link: your choice counts once you confirm it there.",
        "nb": "Vi sender deg en lenke på e-post: valget ditt gjelder når du har bekreftet det der.",
    },
    "grant_button": {"en": "Yes, I want the ticked ones", "nb": "Ja, jeg vil ha de avkryssede"},
    "nothing_to_grant": {
        "en": "There is nothing more to start receiving.",
        "nb": "Det er ikke noe mer du kan begynne å motta.",
    },
    "nothing_to_stop": {"en": "You receive no marketing.", "nb": "Du får ingen markedsføring."},
    "objected_all": {
        "en": "You have objected to all marketing: we send you none.",
        "nb": "Du har reservert deg mot all markedsføring: vi sender deg ingen.",
    },
    "held": {"en": "What we hold about you", "nb": "Det vi har lagret om deg"},
    "fields": {"en": "Your details", "nb": "Opplysningene dine"},
    "consents": {"en": "Your consents and their evidence", "nb": "Samtykkene dine og dokumentasjonen"},
    "when": {"en": "When", "nb": "Når"},
    "what": {"en": "What", "nb": "Hva"},
    "how": {"en": "How", "nb": "Hvordan"},
    "notice": {"en": "Text you were shown", "nb": "Teksten du så"},
    "no_notice": {"en": "not recorded", "nb": "ikke registrert"},
    "browser": {"en": "From (your browser)", "nb": "Fra (nettleseren din)"},
    "ip": {"en": "IP address", "nb": "IP-adresse"},
    "user_agent": {"en": "browser", "nb": "nettleser"},
    "from_browser": {"en": "recorded from", "nb": "registrert fra"},
    "none": {"en": "None.", "nb": "Ingen."},
    "relationships": {
        "en": "Your purchases, subscriptions and accounts",
        "nb": "Kjøp, abonnementer og kontoer",
    },
    "objections": {"en": "Your objections", "nb": "Reservasjonene dine"},
    "all_marketing": {"en": "all marketing", "nb": "all markedsføring"},
    "mailchimp": {
        "en": "What our e-mail service (Mailchimp) holds",
        "nb": "Det e-posttjenesten vår (Mailchimp) har",
    },
    "mailchimp_none": {"en": "Mailchimp holds nothing about you.", "nb": "Mailchimp har ingenting om deg."},
    "audience": {"en": "List", "nb": "Liste"},
    "tags": {"en": "Tags", "nb": "Merker"},
    "pending": {
        "en": "Your latest change has been recorded. Our e-mail service is updated at the next "
        "synchronisation (usually within minutes); until then it may still show the old state below.",
        "nb": "Den siste endringen din er registrert. E-posttjenesten vår oppdateres ved neste "
        "synkronisering (vanligvis innen få minutter); til da kan den fortsatt vise det gamle nedenfor.",
    },
    "history": {"en": "History of your choices", "nb": "Historikken over valgene dine"},
    "by": {"en": "By", "nb": "Av"},
    "download": {"en": "Download everything (JSON)", "nb": "Last ned alt (JSON)"},
    "download_help": {
        "en": "One file with everything above, in a machine-readable form.",
        "nb": "Én fil med alt over, i maskinlesbar form.",
    },
    "erase": {"en": "Delete your data", "nb": "Slett dataene dine"},
    "erase_help": {
        "en": "We delete everything we hold about you and remove you from Mailchimp. We keep only a "
        "scrambled fingerprint of your address, so that we never add it again by mistake.",
        "nb": "Vi sletter alt vi har om deg og fjerner deg fra Mailchimp. Vi beholder bare et "
        "uleselig fingeravtrykk av adressen din, så vi aldri legger den til igjen ved en feil.",
    },
    "erase_button": {"en": "Delete my data…", "nb": "Slett dataene mine…"},
    "erase_confirm_title": {"en": "Delete your data for good?", "nb": "Slette dataene dine for godt?"},
    "erase_confirm_text": {
        "en": "This cannot be undone. Your personal link stops working, and you will receive no more "
        "e-mails from us, not even service messages.",
        "nb": "Dette kan ikke angres. Den personlige lenken din slutter å virke, og du får ingen flere "
        "e-poster fra oss, heller ikke tjenestemeldinger.",
    },
    "erase_confirm_button": {"en": "Yes, delete my data", "nb": "Ja, slett dataene mine"},
    "cancel": {"en": "No, take me back", "nb": "Nei, ta meg tilbake"},
    "erased_title": {"en": "Your data has been deleted", "nb": "Dataene dine er slettet"},
    "erased_text": {
        "en": "We have deleted what we held about you. Mailchimp is told at the next synchronisation.",
        "nb": "Vi har slettet det vi hadde om deg. Mailchimp får beskjed ved neste synkronisering.",
    },
    "done_withdrawn": {
        "en": "Done: you will no longer receive that.",
        "nb": "Ferdig: du får ikke dette lenger.",
    },
    "done_objected": {
        "en": "Done: we send you no marketing.",
        "nb": "Ferdig: vi sender deg ingen markedsføring.",
    },
    "done_granted": {"en": "Thank you: recorded.", "nb": "Takk: registrert."},
    "done_granted_doi": {
        "en": "Thank you. We have sent an e-mail to the address we hold: your choice counts once you "
        "confirm it there.",
        "nb": "Takk. Vi har sendt en e-post til adressen vi har: valget ditt gjelder når du har "
        "bekreftet det der.",
    },
    "done_no_mail": {
        "en": "Recorded, but we could not send the confirmation e-mail now: it does not count yet.",
        "nb": "Registrert, men vi kunne ikke sende bekreftelsen nå: valget gjelder ikke ennå.",
    },
    "done_nothing": {
        "en": "Nothing changed: that was already so.",
        "nb": "Ingenting endret: slik var det allerede.",
    },
    "invalid_title": {"en": "This link does not work", "nb": "Denne lenken virker ikke"},
    "invalid_text": {
        "en": "The link may be old, or it was copied incompletely. Enter your e-mail address and, if we "
        "hold it, we will send a fresh link to it.",
        "nb": "Lenken kan være gammel, eller den ble kopiert ufullstendig. Skriv inn e-postadressen din, "
        "så sender vi en ny lenke til den hvis vi har den.",
    },
    "invalid_text_no_route": {
        "en": "The link may be old, or it was copied incompletely. We cannot send a fresh link by e-mail "
        "from this page: every e-mail we send you ends with your current link, or you can ask us for it.",
        "nb": "Lenken kan være gammel, eller den ble kopiert ufullstendig. Vi kan ikke sende en ny lenke på "
        "e-post fra denne siden: hver e-post vi sender deg har den gjeldende lenken nederst, eller du kan "
        "be oss om den.",
    },
    "not_sent_title": {"en": "No e-mail was sent", "nb": "Ingen e-post ble sendt"},
    "not_sent_text": {
        "en": "We cannot send links by e-mail from this page, so nothing was sent to any address. Every "
        "e-mail we send you ends with your current link, or you can ask us for it.",
        "nb": "Vi kan ikke sende lenker på e-post fra denne siden, så ingenting ble sendt til noen adresse. "
        "Hver e-post vi sender deg har den gjeldende lenken nederst, eller du kan be oss om den.",
    },
    "email_label": {"en": "Your e-mail address", "nb": "E-postadressen din"},
    "send_link": {"en": "Send me a fresh link", "nb": "Send meg en ny lenke"},
    "sent_title": {"en": "Check your inbox", "nb": "Sjekk innboksen din"},
    "sent_text": {
        "en": "If we hold that address, a fresh link is on its way to it.",
        "nb": "Hvis vi har den adressen, er en ny lenke på vei dit.",
    },
    "problem_title": {"en": "Please try again", "nb": "Prøv igjen"},
    "expired_form": {
        "en": "This page was open too long, or the form did not come from it. Nothing was changed. "
        "Please reload the page and try again.",
        "nb": "Siden var åpen for lenge, eller skjemaet kom ikke fra den. Ingenting ble endret. "
        "Last inn siden på nytt og prøv igjen.",
    },
    "too_large": {
        "en": "That was more than a form of this page sends. Nothing was changed.",
        "nb": "Det var mer enn et skjema på denne siden sender. Ingenting ble endret.",
    },
    "bad_choice": {
        "en": "We do not know one of the choices sent. Nothing was changed.",
        "nb": "Vi kjenner ikke igjen ett av valgene. Ingenting ble endret.",
    },
    "tick_one": {
        "en": "Tick at least one box. Nothing was changed.",
        "nb": "Kryss av minst én boks. Ingenting ble endret.",
    },
    "rate_limited": {
        "en": "Too many requests in a short time. Nothing was changed; please try again in a few minutes.",
        "nb": "For mange forespørsler på kort tid. Ingenting ble endret; prøv igjen om noen minutter.",
    },
    "not_offered": {
        "en": "This page is not available here. Nothing was changed.",
        "nb": "Denne siden finnes ikke her. Ingenting ble endret.",
    },
    "back": {"en": "Back to your page", "nb": "Tilbake til siden din"},
    "field_email": {"en": "E-mail", "nb": "E-post"},
    "field_first_name": {"en": "First name", "nb": "Fornavn"},
    "field_last_name": {"en": "Last name", "nb": "Etternavn"},
    "field_phone": {"en": "Phone", "nb": "Telefon"},
    "field_locale": {"en": "Language", "nb": "Språk"},
    "field_external_id": {"en": "Customer number", "nb": "Kundenummer"},
    "field_created_at": {"en": "First recorded", "nb": "Først registrert"},
    "action_given": {"en": "said yes", "nb": "sa ja"},
    "action_confirmed": {"en": "confirmed", "nb": "bekreftet"},
    "action_withdrawn": {"en": "said no", "nb": "sa nei"},
    "email": {"en": "e-mail", "nb": "e-post"},
    "sms": {"en": "SMS", "nb": "SMS"},
}


def words(lang: str, key: str) -> str:
    entry = TEXT[key]
    return entry.get(lang) or entry[DEFAULT]


def negotiate(asked: str | None, accept_language: str, locale: str | None) -> str:
    """``?lang=`` when it names one of ours, else the first ``Accept-Language`` we speak, else the
    contact's recorded locale, else English. Norwegian (``no``, ``nb``, ``nn``) is shown in bokmål."""
    if asked in LANGUAGES:
        return asked
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        found = _ours(tag)
        if found and quality > 0:
            ranked.append((-quality, index, found))
    if ranked:
        return sorted(ranked)[0][2]
    return _ours(locale or "") or DEFAULT


def _ours(tag: str) -> str | None:
    primary = tag.strip().lower().replace("_", "-").split("-")[0]
    if primary in ("nb", "no", "nn"):
        return "nb"
    return "en" if primary == "en" else None
