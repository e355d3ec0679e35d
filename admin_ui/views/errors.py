"""The 404 page: any /ui path no other route answers, in the reader's language."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from admin_ui.web import UiRoute, Visitor, render, visitor

router = APIRouter(route_class=UiRoute)


def not_found(request: Request, who: Visitor) -> Response:
    return render(request, who, "error.html", status_code=404, title_key="ui.error.not_found_title",
                  message_key="ui.error.not_found")


@router.get("/{rest:path}")
async def unknown_page(rest: str, request: Request, who: Visitor = Depends(visitor)) -> Response:
    return not_found(request, who)
